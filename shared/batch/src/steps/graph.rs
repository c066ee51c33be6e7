//! Ordering configured steps: a dependency graph, checked for cycles, scheduled so that a
//! step starts as soon as everything it depends on has finished. Pure: no I/O.

use std::collections::BTreeSet;

/// Steps `0..n` and, for each, the steps it must run after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    names: Vec<String>,
    after: Vec<BTreeSet<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("step {0:?} depends on {1:?}, which is not an active step of this client")]
    Unknown(String, String),
}

impl Graph {
    pub fn new(names: Vec<String>) -> Self {
        let n = names.len();
        Self {
            names,
            after: vec![BTreeSet::new(); n],
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn after(&self, i: usize) -> &BTreeSet<usize> {
        &self.after[i]
    }

    /// `step` runs after `dependency`.
    pub fn edge(&mut self, step: usize, dependency: usize) {
        // A self-edge is kept: it is a cycle of one, and `order` reports it.
        if step < self.len() && dependency < self.len() {
            self.after[step].insert(dependency);
        }
    }

    /// Steps grouped by an order number (lower first; equal numbers may run together): each
    /// step runs after every step of the nearest lower group.
    pub fn by_order(names: Vec<String>, orders: &[i32]) -> Self {
        let mut g = Self::new(names);
        let mut levels: Vec<i32> = orders.to_vec();
        levels.sort_unstable();
        levels.dedup();
        for (i, o) in orders.iter().enumerate() {
            let pos = levels.partition_point(|l| l < o);
            if pos == 0 {
                continue;
            }
            let previous = levels[pos - 1];
            for (j, p) in orders.iter().enumerate() {
                if *p == previous {
                    g.edge(i, j);
                }
            }
        }
        g
    }

    /// A topological order, or the first cycle found (named, in dependency order).
    pub fn order(&self) -> Result<Vec<usize>, GraphError> {
        let n = self.len();
        let mut remaining: Vec<usize> = self.after.iter().map(BTreeSet::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|i| remaining[*i] == 0).rev().collect();
        let mut out = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            out.push(i);
            for j in (0..n).rev() {
                if self.after[j].contains(&i) {
                    remaining[j] -= 1;
                    if remaining[j] == 0 {
                        ready.push(j);
                    }
                }
            }
        }
        if out.len() == n {
            return Ok(out);
        }
        Err(GraphError::Cycle(self.find_cycle(&out)))
    }

    fn find_cycle(&self, ordered: &[usize]) -> Vec<String> {
        // Every unordered step lies on or behind a cycle: walk dependencies among them until
        // a step repeats.
        let left: BTreeSet<usize> = (0..self.len()).filter(|i| !ordered.contains(i)).collect();
        let Some(&start) = left.iter().next() else {
            return vec![];
        };
        let mut path = vec![start];
        let mut at = start;
        loop {
            let Some(&next) = self.after[at].iter().find(|d| left.contains(d)) else {
                return path.iter().map(|i| self.names[*i].clone()).collect();
            };
            if let Some(pos) = path.iter().position(|p| *p == next) {
                // `path[pos..]` is the cycle, each step depending on the next; report it in
                // run order (dependency first).
                let mut cycle: Vec<String> = path[pos..]
                    .iter()
                    .rev()
                    .map(|i| self.names[*i].clone())
                    .collect();
                cycle.push(self.names[path[path.len() - 1]].clone());
                return cycle;
            }
            path.push(next);
            at = next;
        }
    }
}

/// What the scheduler may start now: steps not started whose dependencies all succeeded.
#[derive(Debug)]
pub struct Schedule<'g> {
    graph: &'g Graph,
    state: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    Running,
    Done,
    Failed,
}

impl<'g> Schedule<'g> {
    /// `done`: steps already finished (by an earlier attempt of the same execution).
    pub fn new(graph: &'g Graph, done: &[usize]) -> Self {
        let mut state = vec![Slot::Waiting; graph.len()];
        for d in done {
            if let Some(s) = state.get_mut(*d) {
                *s = Slot::Done;
            }
        }
        Self { graph, state }
    }

    /// Takes up to `max` runnable steps (lowest index first) and marks them running.
    pub fn take(&mut self, max: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..self.graph.len() {
            if out.len() >= max {
                break;
            }
            if self.state[i] == Slot::Waiting
                && self
                    .graph
                    .after(i)
                    .iter()
                    .all(|d| self.state[*d] == Slot::Done)
            {
                self.state[i] = Slot::Running;
                out.push(i);
            }
        }
        out
    }

    pub fn finish(&mut self, i: usize, ok: bool) {
        self.state[i] = if ok { Slot::Done } else { Slot::Failed };
    }

    /// Steps never started (because something failed before them).
    pub fn not_started(&self) -> Vec<usize> {
        (0..self.graph.len())
            .filter(|i| self.state[*i] == Slot::Waiting)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dependencies_come_first() {
        let mut g = Graph::new(names(&["fact_sales", "dim_customers", "dim_products"]));
        g.edge(0, 1);
        g.edge(0, 2);
        let order = g.order().unwrap();
        let pos = |i| order.iter().position(|x| *x == i).unwrap();
        assert!(pos(0) > pos(1) && pos(0) > pos(2));
    }

    #[test]
    fn cycles_are_named() {
        let mut g = Graph::new(names(&["a", "b", "c", "d"]));
        g.edge(1, 0); // b after a
        g.edge(2, 1); // c after b
        g.edge(1, 2); // b after c: b <-> c
        let err = g.order().unwrap_err();
        let GraphError::Cycle(c) = &err else {
            panic!("{err}")
        };
        assert!(
            c.contains(&"b".to_string()) && c.contains(&"c".to_string()),
            "{c:?}"
        );
        assert!(!c.contains(&"a".to_string()) && !c.contains(&"d".to_string()));
        assert_eq!(c.first(), c.last(), "a cycle closes on itself: {c:?}");
        assert!(err.to_string().starts_with("dependency cycle: "));
        let mut g = Graph::new(names(&["x"]));
        g.edge(0, 0);
        assert!(g.order().is_err());
    }

    #[test]
    fn order_groups_run_after_the_previous_group() {
        let g = Graph::by_order(names(&["a", "b", "c", "d"]), &[1, 2, 2, 5]);
        assert!(g.after(0).is_empty());
        assert_eq!(g.after(1), &BTreeSet::from([0]));
        assert_eq!(g.after(2), &BTreeSet::from([0]));
        assert_eq!(g.after(3), &BTreeSet::from([1, 2]));
    }

    #[test]
    fn the_schedule_runs_independent_steps_together_up_to_the_limit() {
        let mut g = Graph::new(names(&["d1", "d2", "d3", "fact"]));
        for d in 0..3 {
            g.edge(3, d);
        }
        let mut s = Schedule::new(&g, &[]);
        assert_eq!(s.take(2), vec![0, 1]);
        assert_eq!(s.take(2), vec![2], "the fact waits for every dimension");
        s.finish(0, true);
        s.finish(1, true);
        assert!(s.take(2).is_empty());
        s.finish(2, true);
        assert_eq!(s.take(2), vec![3]);
    }

    #[test]
    fn a_failed_step_holds_back_its_dependents_and_done_steps_are_not_rerun() {
        let mut g = Graph::new(names(&["d1", "d2", "fact"]));
        g.edge(2, 0);
        g.edge(2, 1);
        let mut s = Schedule::new(&g, &[0]);
        assert_eq!(s.take(4), vec![1]);
        s.finish(1, false);
        assert!(s.take(4).is_empty());
        assert_eq!(s.not_started(), vec![2]);
    }
}
