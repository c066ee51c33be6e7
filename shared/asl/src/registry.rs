//! Named state machines for an orchestrator that runs them in-process (the local one on
//! PostgreSQL, the memory twin): each registered from its definition text with `${Var}`
//! substitutions, or every `<name>.asl.json` of a folder, and started by name.

use crate::{AslError, StateMachine};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why a definition could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("state machine {name}: substitution")]
    Substitution {
        name: String,
        #[source]
        source: AslError,
    },
    #[error("state machine {name} is invalid")]
    Invalid {
        name: String,
        #[source]
        source: AslError,
    },
    #[error("reading state machine definitions from {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The registered machines, by name.
#[derive(Default)]
pub struct Registry(RwLock<BTreeMap<String, Arc<StateMachine>>>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// Registers (or replaces) `name` from its definition, `${Var}`s substituted from `vars`.
    pub fn register(
        &self,
        name: &str,
        definition: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), RegistryError> {
        let text =
            crate::substitute(definition, vars).map_err(|source| RegistryError::Substitution {
                name: name.to_string(),
                source,
            })?;
        let machine = StateMachine::parse(&text).map_err(|source| RegistryError::Invalid {
            name: name.to_string(),
            source,
        })?;
        if let Ok(mut m) = self.0.write() {
            m.insert(name.to_string(), Arc::new(machine));
        }
        Ok(())
    }

    /// Registers every `<name>.asl.json` in `dir` as `<name>`; the names, sorted.
    pub fn register_dir(
        &self,
        dir: &Path,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, RegistryError> {
        let read = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Read { path, source }
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read(dir))? {
            let path = entry.map_err(read(dir))?.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            if let Some(name) = file.strip_suffix(".asl.json") {
                let text = std::fs::read_to_string(&path).map_err(read(&path))?;
                self.register(name, &text, vars)?;
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The machine registered as `name`.
    pub fn get(&self, name: &str) -> Option<Arc<StateMachine>> {
        self.0.read().ok()?.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str =
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "${Word}", "End": true}}}"#;

    #[test]
    fn definitions_register_by_name_and_bad_ones_say_which() {
        let r = Registry::default();
        let vars = [("Word".to_string(), "hi".to_string())].into();
        r.register("b", PASS, &vars).unwrap();
        r.register("a", PASS, &vars).unwrap();
        assert_eq!(r.names(), ["a", "b"]);
        assert!(r.get("a").is_some() && r.get("c").is_none());
        let e = r.register("bad", "{", &vars).unwrap_err();
        assert!(
            matches!(e, RegistryError::Invalid { ref name, .. } if name == "bad"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("muara-asl-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.asl.json"), PASS).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a machine").unwrap();
        assert_eq!(r.register_dir(&dir, &vars).unwrap(), ["x"]);
        let _ = std::fs::remove_dir_all(&dir);
        let missing = r.register_dir(&dir, &vars).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("reading state machine definitions"),
            "{missing}"
        );
    }
}
