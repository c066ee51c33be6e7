use crate::Result;
use async_trait::async_trait;

/// A plain-text mail to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

/// Where the mail went: the service's message id, and for the outbox the file it was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub message_id: String,
    pub location: Option<String>,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<SentMail>;
}

/// Mail to operators: the mailer (SES, SMTP or the outbox) and the addresses.
#[derive(Clone)]
pub struct Notify {
    pub mailer: std::sync::Arc<dyn Mailer>,
    pub from: String,
    pub to: Vec<String>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Notify {
    /// A plain-text mail from `from` to `to`.
    pub fn mail(&self, subject: String, text: String) -> Mail {
        Mail {
            from: self.from.clone(),
            to: self.to.clone(),
            subject,
            text,
        }
    }
}
