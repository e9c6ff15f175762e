//! The Linux file lists the host may read, and what its clipboard locks hold on to.

use std::sync::Arc;

use wayrail_clipboard::files::LinuxFileList;
use wayrail_clipboard::SessionId;

/// At most this many host locks are kept per compositor; a host that locks more without
/// unlocking loses the oldest pins (its requests then read the newest list).
const MAX_LOCKS: usize = 64;

/// What a host lock holds on to.
#[derive(Debug, Clone)]
enum Pinned {
    /// The list of Linux copy number `selection`, once the host asks for it.
    Waiting(u64),
    List(Arc<LinuxFileList>),
}

/// The Linux file lists the host can read: the newest one it was given, and those of the
/// copies it locked ([MS-RDPECLIP] 3.1.5.3.x: data under a lock stays as it was).
#[derive(Debug, Default)]
pub struct ServedLists {
    /// Linux copies so far: a list belongs to the copy it was built from.
    selection: u64,
    /// The newest list, and the copy it was built from.
    current: Option<(u64, Arc<LinuxFileList>)>,
    /// (session, lock id) → what the lock holds, oldest first.
    locks: Vec<((SessionId, u32), Pinned)>,
}

impl ServedLists {
    /// A Linux app copied: lists built from now on belong to the new copy.
    pub fn selection_changed(&mut self) {
        self.selection += 1;
    }

    pub fn selection(&self) -> u64 {
        self.selection
    }

    /// The host got the list of Linux copy `selection`.
    pub fn built(&mut self, selection: u64, list: Arc<LinuxFileList>) {
        for (_, pinned) in &mut self.locks {
            if matches!(pinned, Pinned::Waiting(s) if *s == selection) {
                *pinned = Pinned::List(list.clone());
            }
        }
        self.current = Some((selection, list));
    }

    /// The host locked the data of the Linux copy it sees now (the current copy).
    pub fn lock(&mut self, session: SessionId, id: u32) {
        self.unlock(session, id);
        if self.locks.len() >= MAX_LOCKS {
            let ((s, old), _) = self.locks.remove(0);
            tracing::warn!(session = s, id = old, "more than {MAX_LOCKS} host clipboard locks: the oldest is dropped");
        }
        // The list of the current copy if the host has it already, else the next one built.
        let pinned = match &self.current {
            Some((selection, list)) if *selection == self.selection => Pinned::List(list.clone()),
            _ => Pinned::Waiting(self.selection),
        };
        self.locks.push(((session, id), pinned));
    }

    pub fn unlock(&mut self, session: SessionId, id: u32) {
        self.locks.retain(|(key, _)| *key != (session, id));
    }

    /// A session ended: its locks go with it.
    pub fn session_ended(&mut self, session: SessionId) {
        self.locks.retain(|((s, _), _)| *s != session);
    }

    /// The list a host request reads: the one its lock holds, else the newest.
    pub fn list_for(&self, session: SessionId, lock: Option<u32>) -> Option<Arc<LinuxFileList>> {
        let locked = lock.and_then(|id| {
            self.locks.iter().find(|(key, _)| *key == (session, id)).and_then(|(_, pinned)| match pinned {
                Pinned::List(list) => Some(list.clone()),
                Pinned::Waiting(_) => None,
            })
        });
        locked.or_else(|| self.current.as_ref().map(|(_, list)| list.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use wayrail_clipboard::files;

    use super::*;

    fn list(name: &str) -> Arc<LinuxFileList> {
        let entry = files::LinuxEntry {
            path: PathBuf::from("/nowhere").join(name),
            name: name.into(),
            dir: false,
            size: 0,
            write_time: 0,
            readonly: false,
        };
        Arc::new(LinuxFileList { entries: vec![entry], skipped: Vec::new() })
    }

    fn name(list: Option<Arc<LinuxFileList>>) -> Option<String> {
        list.map(|l| l.entries[0].name.clone())
    }

    /// A host that locks before it asks for the list, and one that locks after, both keep
    /// reading that list after a new Linux copy; unlocking, or the session's end, lets go.
    #[test]
    fn locked_lists_outlive_newer_copies() {
        let mut served = ServedLists::default();
        served.selection_changed();
        served.lock(1, 7); // before the list is built
        served.built(served.selection(), list("a"));
        served.lock(2, 8); // after
        served.selection_changed();
        served.lock(1, 9); // a lock on the new copy, whose list is not built yet
        served.built(served.selection(), list("b"));
        assert_eq!(name(served.list_for(1, Some(7))).as_deref(), Some("a"));
        assert_eq!(name(served.list_for(2, Some(8))).as_deref(), Some("a"));
        assert_eq!(name(served.list_for(1, Some(9))).as_deref(), Some("b"));
        assert_eq!(name(served.list_for(1, None)).as_deref(), Some("b"));
        assert_eq!(name(served.list_for(3, Some(7))).as_deref(), Some("b"), "another session's lock id");
        served.unlock(1, 7);
        assert_eq!(name(served.list_for(1, Some(7))).as_deref(), Some("b"));
        served.session_ended(2);
        assert_eq!(name(served.list_for(2, Some(8))).as_deref(), Some("b"));
        for id in 0..(MAX_LOCKS as u32 + 5) {
            served.lock(4, 100 + id);
        }
        assert!(served.locks.len() <= MAX_LOCKS);
    }
}
