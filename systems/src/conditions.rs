//! Where each run condition of a system last ran.
//!
//! bevy evaluates every run condition of a system at every run of the
//! schedule, also when another condition says no (it folds them without
//! short-circuiting, so that each keeps its change detection current), and
//! keeps each condition's last run inside the built schedule, out of reach.
//! A system skipped for some ticks thus has conditions whose last run is
//! newer than its own: a `resource_changed` beside a gate has seen a change
//! the gate turned down, and must not see it again after a resume.
//!
//! [`Recorded`] wraps a condition and copies its last run, after each
//! evaluation, to a cell the runtime reads when it captures; a resume gives
//! each condition that last run back ([`ConditionRuns`]). A combination
//! that short-circuits (`a.and(b)`: bevy evaluates `b` only when `a` says
//! yes) records the last run at which its second part surely ran too: the
//! last with the outcome that needs both parts (`true` for `a && b`,
//! `false` for `a || b`), never newer than either part's own.

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bevy_ecs::change_detection::{CheckChangeTicks, Tick};
use bevy_ecs::schedule::{BoxedCondition, InternedSystemSet};
use bevy_ecs::system::{
    ReadOnlySystem, RunSystemError, System, SystemAccess, SystemIn, SystemStateFlags,
};
use bevy_ecs::utils::prelude::DebugName;
use bevy_ecs::world::unsafe_world_cell::UnsafeWorldCell;
use bevy_ecs::world::{DeferredWorld, World};

/// The name under which the last run of the `index`-th run condition of
/// the system named `system` is recorded (beside the systems' own, in a
/// snapshot's change-detection record): a name no system has.
pub fn condition_name(system: &str, index: usize) -> String {
    format!("run_if #{index} of {system}")
}

/// How bevy evaluates `condition`, by its name (bevy names its
/// combinations `a && b`, `a || b`, `!(a && b)`, `!(a || b)`, `!a`).
pub(crate) enum Evaluated {
    /// Whole, at every run: its last run is every part's.
    Whole,
    /// A combination that short-circuits, whose second part bevy evaluates
    /// only when the whole says `yes` (`a && b`: `true`; `a || b`:
    /// `false`, and the negations the other way): the last run with that
    /// outcome is never newer than any part's own.
    SecondWhen(bool),
    /// Combinations within combinations (`a & !(b && c)`), or a negation
    /// of one (`!a && b` may be either): which parts ran is not known from
    /// outside.
    Unknown,
}

pub(crate) fn evaluated(condition: &BoxedCondition) -> Evaluated {
    let name = condition.name().to_string();
    let ops = |s: &str| s.matches(" && ").count() + s.matches(" || ").count();
    if ops(&name) == 0 {
        return Evaluated::Whole;
    }
    let (inner, negated) = match name.strip_prefix("!(").and_then(|n| n.strip_suffix(')')) {
        Some(inner) => (inner, true),
        None if name.starts_with('!') => return Evaluated::Unknown,
        None => (name.as_str(), false),
    };
    // One short-circuit operator and nothing else that combines: the
    // outcome of the whole is then the outcome of that operator.
    let other = [" & ", " | ", " ^ ", "!"].iter().any(|o| inner.contains(o));
    if ops(inner) != 1 || other {
        return Evaluated::Unknown;
    }
    Evaluated::SecondWhen(inner.contains(" && ") != negated)
}

/// The recorded run conditions of a built schedule, in the order their
/// systems were added: each with its name ([`condition_name`]) and the
/// cell its wrapper copies its last run to.
#[derive(Clone, Debug, Default)]
pub struct ConditionRuns {
    cells: Vec<(String, Arc<AtomicU32>)>,
}

impl ConditionRuns {
    pub(crate) fn push(&mut self, name: String, cell: Arc<AtomicU32>) {
        self.cells.push((name, cell));
    }

    /// Each recorded condition's name and last run, in the order of the
    /// systems (then of their conditions).
    pub fn last_runs(&self) -> Vec<(String, Tick)> {
        self.cells
            .iter()
            .map(|(n, c)| (n.clone(), Tick::new(c.load(Ordering::Relaxed))))
            .collect()
    }

    /// How many conditions are recorded.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether no condition is recorded.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// A run condition that copies its last run to a shared cell after every
/// evaluation (and whenever it is set or clamped); everything else is
/// `inner`'s.
pub(crate) struct Recorded {
    inner: BoxedCondition,
    last_run: Arc<AtomicU32>,
    /// `Some(outcome)`: the last run is recorded only after evaluations
    /// with that outcome ([`Evaluated::SecondWhen`]).
    when: Option<bool>,
}

impl Recorded {
    /// Wraps `inner`, recording its last run after every evaluation
    /// (`when` is `None`) or after those with outcome `when`; the cell
    /// starts at its current last run.
    pub(crate) fn new(inner: BoxedCondition, when: Option<bool>) -> (Self, Arc<AtomicU32>) {
        let last_run = Arc::new(AtomicU32::new(inner.get_last_run().get()));
        (
            Recorded {
                inner,
                last_run: last_run.clone(),
                when,
            },
            last_run,
        )
    }

    fn copy(&self) {
        self.last_run
            .store(self.inner.get_last_run().get(), Ordering::Relaxed);
    }
}

impl System for Recorded {
    type In = ();
    type Out = bool;

    fn name(&self) -> DebugName {
        self.inner.name()
    }

    fn system_type(&self) -> TypeId {
        self.inner.system_type()
    }

    fn flags(&self) -> SystemStateFlags {
        self.inner.flags()
    }

    unsafe fn run_unsafe(
        &mut self,
        input: SystemIn<'_, Self>,
        world: UnsafeWorldCell,
    ) -> Result<bool, RunSystemError> {
        // SAFETY: the caller upholds `run_unsafe`'s contract for this
        // system, whose access is `inner`'s (`initialize` returns it): the
        // same call on `inner` is covered by it.
        let out = unsafe { self.inner.run_unsafe(input, world) };
        match (self.when, &out) {
            (None, _) => self.copy(),
            (Some(when), Ok(outcome)) if *outcome == when => self.copy(),
            _ => {}
        }
        out
    }

    fn apply_deferred(&mut self, world: &mut World) {
        self.inner.apply_deferred(world);
    }

    fn queue_deferred(&mut self, world: DeferredWorld) {
        self.inner.queue_deferred(world);
    }

    fn initialize(&mut self, world: &mut World) -> SystemAccess {
        self.inner.initialize(world)
    }

    fn check_change_tick(&mut self, check: CheckChangeTicks) {
        self.inner.check_change_tick(check);
        // Clamped as bevy clamps the ticks it keeps (its own may be newer).
        let mut t = Tick::new(self.last_run.load(Ordering::Relaxed));
        if t.check_tick(check) {
            self.last_run.store(t.get(), Ordering::Relaxed);
        }
    }

    fn default_system_sets(&self) -> Vec<InternedSystemSet> {
        self.inner.default_system_sets()
    }

    fn get_last_run(&self) -> Tick {
        self.inner.get_last_run()
    }

    fn set_last_run(&mut self, last_run: Tick) {
        self.inner.set_last_run(last_run);
        self.copy();
    }
}

// SAFETY: `Recorded` reads and writes nothing itself: every access is its
// `inner` condition's, which is a `ReadOnlySystem` (`BoxedCondition`).
unsafe impl ReadOnlySystem for Recorded {}

#[cfg(test)]
mod tests {
    use bevy_ecs::prelude::*;
    use bevy_ecs::schedule::SystemCondition;
    use bevy_ecs::system::IntoSystem;

    use super::*;

    fn yes() -> bool {
        true
    }

    fn no() -> bool {
        false
    }

    fn of<M>(c: impl SystemCondition<M>) -> Evaluated {
        let boxed: BoxedCondition = Box::new(IntoSystem::into_system(c));
        evaluated(&boxed)
    }

    #[test]
    fn combinations_are_told_apart_by_their_names() {
        assert!(matches!(of(yes), Evaluated::Whole));
        assert!(matches!(of(yes.and_eager(no)), Evaluated::Whole));
        assert!(matches!(of(not(yes)), Evaluated::Whole));
        assert!(matches!(of(yes.and_then(no)), Evaluated::SecondWhen(true)));
        assert!(matches!(of(yes.or_else(no)), Evaluated::SecondWhen(false)));
        assert!(matches!(
            of(yes.nand_then(no)),
            Evaluated::SecondWhen(false)
        ));
        assert!(matches!(of(yes.nor_else(no)), Evaluated::SecondWhen(true)));
        assert!(matches!(
            of(yes.and_then(no).or_else(yes)),
            Evaluated::Unknown
        ));
        assert!(matches!(of(not(yes.and_then(no))), Evaluated::Unknown));
        assert!(matches!(of(not(yes).and_then(no)), Evaluated::Unknown));
        assert!(matches!(
            of(yes.and_eager(yes.nand_then(no))),
            Evaluated::Unknown
        ));
    }
}
