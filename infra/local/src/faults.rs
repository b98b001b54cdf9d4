//! Fault injection for tests: a function killed right after one of its AWS calls was
//! carried out, before the answer reaches it. That is a Lambda execution environment
//! dying between a write and whatever it meant to do next (post to the room's sockets,
//! write a second item): what a crash, an out-of-memory kill or a timeout does in AWS.
//!
//! The IAM proxy ([`crate::iam_proxy`]) knows which function signed each call and
//! carries it out; when a [`KillAfter`] matches, it kills that function's running
//! environments ([`crate::runtime::FunctionHost::kill_running`]) instead of answering.
//! Faults therefore need IAM enforcement on (the default).

use std::sync::{Arc, Mutex, OnceLock};

/// Kill `function` (a logical id) after its next `times` calls of `operation` (the
/// service's operation name: `TransactWriteItems`, `PutItem`, `SendMessage`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillAfter {
    pub function: String,
    pub operation: String,
    pub times: u32,
}

/// Kills a function's running environments, given its logical id.
pub type Killer = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// The faults armed in one stack.
#[derive(Default)]
pub struct Faults {
    armed: Mutex<Vec<KillAfter>>,
    killer: OnceLock<Killer>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("armed", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<KillAfter>> {
        self.armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What kills a function (set once the functions run).
    pub fn set_killer(&self, killer: Killer) {
        let _ = self.killer.set(killer);
    }

    pub fn arm(&self, fault: KillAfter) {
        if fault.times > 0 {
            self.lock().push(fault);
        }
    }

    /// Whether any fault is armed for `function` (cheap: checked on every call).
    pub fn armed_for(&self, function: &str) -> bool {
        self.lock().iter().any(|f| f.function == function)
    }

    /// Counts one carried-out call; `true` when it trips a fault (the caller then
    /// [`kill`](Self::kill)s the function instead of answering).
    pub fn trips(&self, function: &str, operation: &str) -> bool {
        let mut armed = self.lock();
        let Some(index) = armed
            .iter()
            .position(|f| f.function == function && f.operation == operation)
        else {
            return false;
        };
        armed[index].times -= 1;
        if armed[index].times == 0 {
            armed.remove(index);
        }
        true
    }

    /// Kills `function`'s running environments; how many were killed.
    pub fn kill(&self, function: &str) -> usize {
        let killed = self.killer.get().map_or(0, |kill| kill(function));
        tracing::warn!(
            function,
            killed,
            "fault injected: function killed after its call"
        );
        killed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill_after(times: u32) -> KillAfter {
        KillAfter {
            function: "RealtimeFunction".into(),
            operation: "TransactWriteItems".into(),
            times,
        }
    }

    #[test]
    fn a_fault_trips_on_its_function_and_operation_only_as_many_times_as_armed() {
        let faults = Faults::default();
        faults.arm(kill_after(2));

        assert!(!faults.trips("ChatFunction", "TransactWriteItems"));
        assert!(!faults.trips("RealtimeFunction", "PutItem"));
        assert!(faults.trips("RealtimeFunction", "TransactWriteItems"));
        assert!(faults.armed_for("RealtimeFunction"));
        assert!(faults.trips("RealtimeFunction", "TransactWriteItems"));
        assert!(!faults.trips("RealtimeFunction", "TransactWriteItems"));
        assert!(!faults.armed_for("RealtimeFunction"));
    }

    #[test]
    fn killing_calls_the_killer_with_the_function() {
        let faults = Faults::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        faults.set_killer(Arc::new(move |function: &str| {
            record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(function.to_owned());
            1
        }));

        assert_eq!(faults.kill("RealtimeFunction"), 1);
        assert_eq!(
            *seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            vec!["RealtimeFunction".to_owned()]
        );
    }
}
