//! A byte cap on fetches that works for every transport: a progress tree
//! that raises gix's interrupt flag once the pack being read passes the cap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gix::progress::{Id, MessageLevel, Step, StepShared, Unit, UNKNOWN};

/// gix-pack reports the bytes of the pack it reads under this id.
const READ_PACK_BYTES: Id = *b"BWRB";

/// Progress that interrupts the fetch past `cap` pack bytes.
#[derive(Clone)]
pub struct CapProgress {
    id: Id,
    step: StepShared,
    cap: usize,
    interrupt: Arc<AtomicBool>,
}

impl CapProgress {
    /// Progress for a fetch of at most `cap` bytes; `interrupt` is the flag gix checks.
    pub fn new(cap: u64, interrupt: Arc<AtomicBool>) -> Self {
        debug_assert_eq!(
            READ_PACK_BYTES,
            Id::from(gix::odb::pack::bundle::write::ProgressId::ReadPackBytes)
        );
        CapProgress {
            id: UNKNOWN,
            step: Default::default(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            interrupt,
        }
    }

    fn child(&self, id: Id) -> Self {
        CapProgress {
            id,
            step: Default::default(),
            cap: self.cap,
            interrupt: self.interrupt.clone(),
        }
    }

    fn check(&self) {
        if self.id == READ_PACK_BYTES && self.step.load(Ordering::Relaxed) > self.cap {
            self.interrupt.store(true, Ordering::Relaxed);
        }
    }
}

impl gix::Count for CapProgress {
    fn set(&self, step: Step) {
        self.step.store(step, Ordering::Relaxed);
        self.check();
    }
    fn step(&self) -> Step {
        self.step.load(Ordering::Relaxed)
    }
    fn inc_by(&self, step: Step) {
        self.step.fetch_add(step, Ordering::Relaxed);
        self.check();
    }
    fn counter(&self) -> StepShared {
        self.step.clone()
    }
}

impl gix::Progress for CapProgress {
    fn init(&mut self, _max: Option<Step>, _unit: Option<Unit>) {}
    fn set_name(&mut self, _name: String) {}
    fn name(&self) -> Option<String> {
        None
    }
    fn id(&self) -> Id {
        self.id
    }
    fn message(&self, _level: MessageLevel, _message: String) {}
}

impl gix::NestedProgress for CapProgress {
    type SubProgress = CapProgress;
    fn add_child(&mut self, _name: impl Into<String>) -> Self::SubProgress {
        self.child(UNKNOWN)
    }
    fn add_child_with_id(&mut self, _name: impl Into<String>, id: Id) -> Self::SubProgress {
        self.child(id)
    }
}
