//! wayrail's fuzz targets: every decoder and converter wayrail owns, each a function of bytes
//! that panics only on a bug. The libFuzzer binaries (`libfuzzer/`, nightly) and the smoke
//! test (`tests/smoke.rs`, stable, part of `cargo test`) drive the same functions.

use std::sync::OnceLock;

use ironrdp_svc::SvcProcessor as _;
use wayrail_clipboard::formats::{self, FormatKind};
use wayrail_compositor::layout::{logical_origins, verify_invariants};
use wayrail_rail::host::{Actions, RailCommand, RailState, WindowSurface};
use wayrail_rail::{HostRect, RemoteWindow, Show, WindowKind};
use wayrail_rdp::monitors::{self, HostMonitor};

/// A target: its name (the corpus directory) and its function.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Calls macro `$m` with the name of every target (each target is the function of that name):
/// the one list of targets, for the table below and for the smoke tests.
#[macro_export]
macro_rules! with_targets {
    ($m:ident) => {
        $m!(
            rail_channel,
            rail_host,
            monitors,
            layout,
            clipboard_formats,
            reassembly,
            exec_entry,
            desktop_icon,
            png_icon,
            x11_icon,
            ipc_request,
            pre_auth,
            gfxredir,
            applist,
            parse_uri_list,
            decode_host_list,
            sanitize_host_name
        );
    };
}

macro_rules! target_table {
    ($($name:ident),*) => {
        pub const TARGETS: &[Target] = &[$(Target { name: stringify!($name), run: $name }),*];
    };
}

with_targets!(target_table);

pub fn target(name: &str) -> &'static Target {
    TARGETS.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no fuzz target {name}"))
}

/// Reads numbers off the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    fn empty(&self) -> bool {
        self.0.is_empty()
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn string(&mut self) -> String {
        let n = self.u8() as usize;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
}

/// The RAIL channel's decoding of client PDUs, the lenient Exec included: the input is one
/// PDU, then the same again split where a 0xFFFF pair sits (later PDUs on the same channel).
pub fn rail_channel(data: &[u8]) {
    let mut channel = wayrail_rail::RailChannel::default();
    let _ = channel.start();
    let _ = channel.process(data);
    for pdu in data.split(|&b| b == 0xFF).filter(|p| !p.is_empty()) {
        let _ = channel.process(pdu);
    }
    let _ = channel.take_events();
    let _ = channel.allows_local_move_size();
}

struct Surface(u16, (u16, u16));

impl WindowSurface for Surface {
    fn surface_id(&self) -> u16 {
        self.0
    }
    fn size(&self) -> (u16, u16) {
        self.1
    }
}

/// The RemoteApp host-window state fed arbitrary commands; every order it yields is encoded.
pub fn rail_host(data: &[u8]) {
    let mut b = Bytes(data);
    let mut state = RailState::<Surface>::default();
    let mut actions = Actions::default();
    let mut next_surface = 1u16;
    while !b.empty() {
        let command = match b.u8() % 8 {
            0 => {
                let rect = |b: &mut Bytes| HostRect::new(b.i32(), b.i32(), b.u32(), b.u32());
                let window = RemoteWindow {
                    id: b.u32() % 8,
                    owner: b.u32() % 8,
                    kind: if b.u8() & 1 == 0 { WindowKind::Toplevel } else { WindowKind::Popup },
                    title: b.string(),
                    app_id: b.string(),
                    window: rect(&mut b),
                    client: rect(&mut b),
                    show: [Show::Normal, Show::Minimized, Show::Maximized, Show::Fullscreen][b.u8() as usize % 4],
                    surface: (b.u8() & 1 == 1).then(|| (b.u32(), b.u32())),
                };
                RailCommand::Upsert(window)
            }
            1 => RailCommand::Remove(b.u32() % 8),
            2 => {
                let n = b.u8() % 8;
                let top_first = (0..n).map(|_| b.u32() % 8).collect();
                RailCommand::Stacking { top_first, active: (b.u8() & 1 == 1).then(|| b.u32() % 8) }
            }
            3 => {
                let (window, big, size) = (b.u32() % 8, b.u8() & 1 == 1, b.u16() % 300);
                let len = b.u16() as usize;
                RailCommand::Icon { window, big, size, bgra: b.take(len).to_vec() }
            }
            4 => RailCommand::AppId { window: b.u32(), app_id: b.string(), pid: b.u32(), executable: b.string() },
            5 => RailCommand::LocalMoveSize {
                window: b.u32() % 8,
                edges: (b.u8() & 1 == 1).then(|| b.u32()),
                x: b.i32(),
                y: b.i32(),
            },
            6 => {
                state.on_ready(&mut actions);
                continue;
            }
            _ => {
                let id = b.u32() % 8;
                let mapping = if b.u8() & 1 == 0 {
                    wayrail_rail::host::Mapping::ScaledWindow
                } else {
                    wayrail_rail::host::Mapping::Output
                };
                let _ = state.map_pdu(id, b.u16(), mapping);
                continue;
            }
        };
        state.apply(command, &mut actions);
        for id in actions.surfaces.drain(..) {
            let size = state.known.get(&id).map(|w| w.surface_size()).unwrap_or((1, 1));
            state.surfaces.insert(id, Surface(next_surface, (size.0 as u16, size.1 as u16)));
            next_surface = next_surface.wrapping_add(1);
        }
        for order in actions.orders.drain(..) {
            let _ = ironrdp_core::encode_vec(&order);
        }
        actions.rail_messages.clear();
        actions.deleted_surfaces.clear();
        actions.remap.clear();
    }
}

fn host_monitors(b: &mut Bytes) -> Vec<HostMonitor> {
    let n = b.u8() % 20;
    (0..n)
        .map(|_| HostMonitor {
            x: b.i32(),
            y: b.i32(),
            width: b.u32(),
            height: b.u32(),
            primary: b.u8() & 1 == 1,
            // As the server reads scales (`scale_percent`): 100..=500 %.
            scale: 100 + b.u32() % 401,
        })
        .collect()
}

/// Client monitor data: a connect-initial frame's GCC blocks (and their rewrite), then a
/// monitor list as a client could send it, checked the way the server checks it.
pub fn monitors(data: &[u8]) {
    if let Some(blocks) = monitors::connect_initial_blocks(data) {
        let found = monitors::from_gcc(&blocks);
        let _ = monitors::check_coordinates(&found);
        if let Ok(valid) = monitors::validate(found) {
            let _ = monitors::rewrite_monitor_layout(data, &valid);
        }
    }
    let mut b = Bytes(data);
    let list = host_monitors(&mut b);
    let _ = monitors::check_coordinates(&list);
    let _ = monitors::bounding_box(&list);
    if let Ok(valid) = monitors::validate(list) {
        let _ = monitors::bounding_box(&valid);
        let _ = monitors::to_gcc(&valid);
        let _ = monitors::rewrite_monitor_layout(data, &valid);
    }
}

/// The compositor's logical layout of monitors the server let through: origins for each,
/// and the layout's own invariants must hold for them.
pub fn layout(data: &[u8]) {
    let mut b = Bytes(data);
    let list = host_monitors(&mut b);
    let Ok(valid) = monitors::validate(list) else { return };
    let phys = wayrail_compositor::backend::remote::phys_monitors(&valid);
    let origins = logical_origins(&phys);
    if let Err(why) = verify_invariants(&phys, &origins) {
        panic!("layout invariants broken for {phys:?} → {origins:?}: {why}");
    }
}

const MIMES: &[&str] = &[
    "text/plain;charset=utf-8",
    "text/plain",
    "UTF8_STRING",
    "text/html",
    "text/rtf",
    "application/rtf",
    "image/png",
    "image/bmp",
    "image/x-bmp",
];

const KINDS: &[FormatKind] = &[
    FormatKind::UnicodeText,
    FormatKind::Text,
    FormatKind::Html,
    FormatKind::Rtf,
    FormatKind::Dib,
    FormatKind::DibV5,
    FormatKind::Png,
];

/// Clipboard conversion both ways for any format and mime type, and the image decoders; an
/// image that decodes encodes back to the same pixels.
pub fn clipboard_formats(data: &[u8]) {
    let [k, m, rest @ ..] = data else { return };
    let kind = KINDS[*k as usize % KINDS.len()];
    let mime = MIMES[*m as usize % MIMES.len()];
    let _ = formats::host_to_linux(kind, rest, mime);
    let _ = formats::linux_to_host(kind, rest, mime);
    let _ = formats::strip_cf_html(rest);
    let _ = formats::utf16_to_string(rest);
    let _ = formats::bmp_file_from_dib(rest);
    let _ = formats::decode_bmp_file(rest);
    let _ = formats::decode_png(rest);
    if let Ok(image) = formats::decode_dib(rest) {
        for v5 in [false, true] {
            let again = formats::decode_dib(&formats::encode_dib(&image, v5)).expect("an encoded DIB decodes");
            assert_eq!((again.width, again.height), (image.width, image.height));
        }
    }
}

/// The reassembly screens of static and dynamic channels.
pub fn reassembly(data: &[u8]) {
    wayrail_rdp::fuzz::reassembly(data);
}

/// Desktop entries' Exec= and TryExec= lines as the Exec policy reads them, and Exec
/// command lines as a client sends them.
pub fn exec_entry(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let try_exec = lines.next().filter(|l| !l.is_empty());
    let exec: Vec<String> = lines.map(str::to_owned).collect();
    let _ = wayrail_rail::exec::entry_programs(&exec, try_exec);
    for line in &exec {
        let _ = wayrail_rail::exec::split_arguments(line);
        let _ = wayrail_rail::exec::command_line(line, "");
        let _ = wayrail_rail::exec::command_line(try_exec.unwrap_or(""), line);
    }
}

/// The Icon= of a desktop file.
pub fn desktop_icon(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = wayrail_compositor::icons::fuzz_desktop_icon(&text, None);
    let _ = wayrail_compositor::icons::fuzz_desktop_icon(&text, Some("foot"));
}

/// A themed icon's PNG, squared and scaled to taskbar sizes.
pub fn png_icon(data: &[u8]) {
    let Some((size, png)) = data.split_first() else { return };
    let _ = wayrail_compositor::icons::fuzz_png_icon(png, u32::from(*size % 97) + 16);
}

/// `_NET_WM_ICON` as Xwayland hands it over, then the icon chosen from it and scaled.
pub fn x11_icon(data: &[u8]) {
    let Some((size, rest)) = data.split_first() else { return };
    let words: Vec<u32> = rest.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let images = wayrail_xwayland::icon::parse_icons(&words);
    for image in &images {
        assert_eq!(image.rgba.len(), (image.width * image.height * 4) as usize);
    }
    let _ = wayrail_compositor::icons::fuzz_x11_icon(&images, u32::from(*size % 97) + 16);
}

/// A line on the IPC socket.
pub fn ipc_request(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(request) = serde_json::from_str::<wayrail_compositor::ipc::Request>(line.trim()) {
        let _ = serde_json::to_string(&request);
        if let wayrail_compositor::ipc::Request::Input { events } = request {
            let _: Vec<wayrail_compositor::input::InputEvent> = events.into_iter().map(Into::into).collect();
        }
    }
}

/// A client's bytes through the connection sequence up to the login.
pub fn pre_auth(data: &[u8]) {
    pre_auth_reply(data);
}

/// What the server answers a client's bytes before the login.
pub fn pre_auth_reply(data: &[u8]) -> Vec<u8> {
    static PRE_AUTH: OnceLock<wayrail_rdp::fuzz::PreAuth> = OnceLock::new();
    let pre_auth = PRE_AUTH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wayrail-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the fuzz certificate");
        let pre_auth = wayrail_rdp::fuzz::PreAuth::new(&dir).expect("a TLS certificate");
        // The acceptor holds the certificate; the files are not needed any more.
        let _ = std::fs::remove_dir_all(&dir);
        pre_auth
    });
    pre_auth.run(data)
}

/// gfxredir: the input as one PDU (whatever decodes encodes back to the same PDU) and as a
/// message of several; then the server's state machine driven by the input: host bytes,
/// windows opened, resized and closed, presents and acks. Every PDU it emits must encode and
/// decode back to itself.
pub fn gfxredir(data: &[u8]) {
    use wayrail_vail::codec::{self, CapsSet, Pdu};
    use wayrail_vail::{Rect, VailChannel};

    if let Ok(pdu) = codec::decode(data) {
        let again = pdu.encode().expect("a decoded gfxredir PDU encodes");
        assert_eq!(codec::decode(&again), Ok(pdu));
    }
    for piece in codec::split(data) {
        let _ = codec::decode(piece);
    }

    let mut channel = VailChannel::new(gfxredir_dir().to_owned());
    let mut b = Bytes(data);
    let mut last_present = 0u64;
    while !b.empty() {
        let window = u64::from(b.u8() % 4);
        match b.u8() % 8 {
            0 => channel.receive(&Pdu::CapsAdvertise(vec![CapsSet::v2(0)]).encode().unwrap()),
            1 => {
                let n = b.u8() as usize;
                channel.receive(b.take(n));
            }
            2 => drop(channel.open_window(window, u32::from(b.u8() % 40), u32::from(b.u8() % 40))),
            3 => drop(channel.resize(window, u32::from(b.u8() % 40), u32::from(b.u8() % 40))),
            4 => drop(channel.close_window(window)),
            5 => {
                let dirty = Rect::new(b.u32(), b.u32(), b.u32(), b.u32());
                let presented = channel.present(window, dirty, (b.u32(), b.u32()), b.u8() & 1 == 1);
                last_present = presented.unwrap_or(last_present);
            }
            6 => {
                let present_id = if b.u8() & 1 == 1 { last_present } else { u64::from(b.u32()) };
                channel.receive(&Pdu::PresentBufferAck { window_id: window, present_id }.encode().unwrap());
            }
            _ => {
                let stride = usize::from(b.u8());
                let len = usize::from(b.u16() % 2048);
                let src = b.take(len).to_vec();
                let rects: Vec<Rect> = (0..b.u8() % 4)
                    .map(|_| Rect::new(b.u32() % 64, b.u32() % 64, b.u32() % 64, b.u32() % 64))
                    .collect();
                let _ = channel.copy_and_present(window, &src, stride, &rects, (40, 40), true);
            }
        }
        for pdu in channel.take_output() {
            let bytes = pdu.encode().expect("the server's gfxredir PDUs encode");
            assert_eq!(codec::decode(&bytes), Ok(pdu));
        }
        let _ = channel.take_events();
        for id in channel.windows().collect::<Vec<_>>() {
            let pool = channel.pool(id).expect("a listed window has a pool");
            assert!(pool.path().exists(), "a live window's pool file exists");
        }
    }
    channel.closed();
}

/// rdpapplist: the input as one server PDU and as one client PDU (whatever decodes encodes
/// back to the same bytes); then the server's channel fed the input as host messages, lists
/// and windows, every PDU it queues encoding and decoding back to itself.
pub fn applist(data: &[u8]) {
    use wayrail_applist::codec::{ClientPdu, IconData, ServerPdu};
    use wayrail_applist::entries::App;
    use wayrail_applist::{AppListChannel, Listed};

    if let Ok(pdu) = ServerPdu::decode(data) {
        assert_eq!(pdu.encode().expect("a decoded server PDU encodes"), data);
    }
    if let Ok(pdu) = ClientPdu::decode(data) {
        let again = pdu.encode().expect("a decoded client PDU encodes");
        assert_eq!(ClientPdu::decode(&again), Ok(pdu));
    }
    let mut channel = AppListChannel::new("wayrail", "8e1b2a7c-0f3d-4c7a-9d2e-5b6a7c8d9e0f").expect("a valid provider");
    channel.opened();
    let mut b = Bytes(data);
    while !b.empty() {
        match b.u8() % 5 {
            0 => {
                let n = b.u8() as usize;
                channel.receive(b.take(n));
            }
            1 => channel.receive(&[1, 0, 0, 0, 42, 0, 0, 0, 4, 0, b'e', b'n']),
            2 => {
                let list = (0..b.u8() % 4)
                    .map(|_| {
                        let n = usize::from(b.u8() % 8);
                        let id = String::from_utf8_lossy(b.take(n)).into_owned();
                        let n = usize::from(b.u16() % 300);
                        let text = String::from_utf8_lossy(b.take(n)).into_owned();
                        let app = App {
                            id: id.clone(),
                            name: text.clone(),
                            comment: None,
                            exec: text.clone(),
                            program: id,
                            working_dir: None,
                            icon: None,
                            wm_class: Some(text),
                            path: std::path::PathBuf::new(),
                        };
                        Listed { app, icon: IconData::bgra_bottom_up(1, 1, &[1, 2, 3, 4]) }
                    })
                    .collect();
                channel.publish(list);
            }
            3 => {
                let window = u32::from(b.u8() % 4);
                let n = usize::from(b.u8() % 8);
                let app_id = String::from_utf8_lossy(b.take(n)).into_owned();
                channel.window(window, &app_id);
            }
            _ => channel.window_gone(u32::from(b.u8() % 4)),
        }
        for pdu in channel.take_output() {
            let bytes = pdu.encode().unwrap_or_else(|e| panic!("the server's app list PDUs encode: {e}: {pdu:?}"));
            assert_eq!(ServerPdu::decode(&bytes), Ok(pdu));
        }
        let _ = channel.take_events();
    }
    channel.goodbye();
}

/// The pools of the gfxredir target: a folder per process, emptied as its pools drop.
fn gfxredir_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wayrail-fuzz-gfxredir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the fuzz pools");
        dir
    })
}

/// A Linux copy's `text/uri-list` or `x-special/gnome-copied-files`: every path it yields
/// is absolute without a NUL, and writing the paths as either list and reading that again
/// gives the same paths.
pub fn parse_uri_list(data: &[u8]) {
    use wayrail_clipboard::files::{self, GNOME_COPIED_FILES_MIME, URI_LIST_MIME};
    let paths: Vec<std::path::PathBuf> = files::parse_uri_list(data).into_iter().filter_map(Result::ok).collect();
    for path in &paths {
        assert!(path.is_absolute(), "{path:?} is not absolute");
        assert!(!path.as_os_str().as_encoded_bytes().contains(&0), "{path:?} holds a NUL");
    }
    for mime in [URI_LIST_MIME, GNOME_COPIED_FILES_MIME] {
        let again: Vec<std::path::PathBuf> = files::parse_uri_list(&files::uri_list(&paths, mime))
            .into_iter()
            .map(|r| r.expect("a path wayrail wrote reads back"))
            .collect();
        assert_eq!(again, paths, "{mime} does not round-trip");
    }
}

/// A host's `FileGroupDescriptorW` list: whatever decodes yields only names that stay under
/// the destination folder (plain relative components), each entry kept or refused, indices
/// in list order; the FUSE tree built from it names only plain items at its top.
pub fn decode_host_list(data: &[u8]) {
    use std::path::{Component, Path};
    use wayrail_clipboard::files;
    use wayrail_clipboard::mount::HostTree;
    let Ok((entries, refused)) = files::decode_host_list(data) else { return };
    let count = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    assert_eq!(entries.len() + refused.len(), count, "an entry neither kept nor refused");
    let dest = Path::new("/run/user/1000/wayrail-files/1-1/1");
    let mut last = None;
    for e in &entries {
        assert!(last.is_none_or(|l| e.index > l), "indices out of order");
        last = Some(e.index);
        assert!((e.index as usize) < count);
        assert!(e.relative.components().all(|c| matches!(c, Component::Normal(_))), "{:?}", e.relative);
        assert!(dest.join(&e.relative).starts_with(dest), "{:?} leaves the folder", e.relative);
    }
    for item in files::top_level(&entries) {
        assert_eq!(item.components().count(), 1, "{item:?}");
    }
    let (tree, _) = HostTree::build(&entries, |e| Ok(u64::from(e.index)));
    for item in tree.top_level() {
        assert!(matches!(item.components().collect::<Vec<_>>()[..], [Component::Normal(_)]), "{item:?}");
    }
    let (files, _) = tree.totals();
    assert!(files <= entries.len());
}

/// A host's file name (the input as UTF-16, and as UTF-8): a name that passes is plain
/// relative components without `:`, control characters, `.` or `..`, and passes again,
/// unchanged, written back with `\` between its parts.
pub fn sanitize_host_name(data: &[u8]) {
    use std::path::Component;
    use wayrail_clipboard::files;
    let utf16: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    for name in [String::from_utf16_lossy(&utf16), String::from_utf8_lossy(data).into_owned()] {
        let Ok(path) = files::sanitize_host_name(&name) else { continue };
        let parts: Vec<&str> = path
            .components()
            .map(|c| match c {
                Component::Normal(n) => n.to_str().expect("a UTF-8 part"),
                other => panic!("{name:?} gave {other:?}"),
            })
            .collect();
        assert!(!parts.is_empty());
        for part in &parts {
            assert!(!part.is_empty() && *part != "." && *part != "..", "{name:?}: {part:?}");
            assert!(!part.contains([':', '\\', '/']) && !part.chars().any(char::is_control), "{name:?}: {part:?}");
        }
        assert_eq!(files::sanitize_host_name(&parts.join("\\")), Ok(path.clone()), "{name:?} again");
    }
}
