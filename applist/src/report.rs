//! What the host was last told, for `wayrail msg apps`: a process-wide record that the
//! session owning the channel updates after each change and the IPC thread reads.

use std::sync::Mutex;

use serde::Serialize;

use crate::channel::AppListChannel;

/// One entry as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentApp {
    pub id: String,
    pub name: String,
    pub exec: String,
    pub working_dir: Option<String>,
    /// The icon's size in pixels.
    pub icon: (u32, u32),
    /// The desktop file it came from.
    pub file: String,
}

/// The app list of the host now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub provider: Option<String>,
    /// The host's language (None: no host has the list).
    pub language: Option<String>,
    pub apps: Vec<SentApp>,
    /// Host PDUs that did not decode.
    pub malformed: u64,
}

static REPORT: Mutex<Option<Report>> = Mutex::new(None);

/// Records what `channel` has sent.
pub fn record(channel: &AppListChannel) {
    let apps = channel
        .sent()
        .map(|l| SentApp {
            id: l.app.id.clone(),
            name: l.app.name.clone(),
            exec: l.app.exec.clone(),
            working_dir: l.app.working_dir.clone(),
            icon: (l.icon.width, l.icon.height),
            file: l.app.path.display().to_string(),
        })
        .collect();
    let report = Report {
        provider: Some(channel.provider_name().to_string()),
        language: channel.language().map(str::to_string),
        apps,
        malformed: channel.malformed,
    };
    *REPORT.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
}

/// The last record (empty before any host had the channel).
pub fn current() -> Report {
    REPORT.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
}
