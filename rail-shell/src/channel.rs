//! The `rail` static channel, server side: handshake, client status and system parameters,
//! then the client's requests (exec, activate, system commands, moves) as `RailEvent`s.
//! Unknown or undecodable PDUs are logged and skipped; a RemoteApp session never ends
//! because a client sent a RAIL PDU we cannot read.

use std::collections::VecDeque;

use ironrdp_core::{decode, impl_as_any};
use ironrdp_pdu::gcc::ChannelName;
use ironrdp_pdu::PduResult;
use ironrdp_rail::{
    ClientStatusPdu, ExecuteResult, ExecuteResultPdu, GetApplicationIdResponseExPdu, HandshakeExPdu, HandshakePdu,
    LocalMoveSizePdu, MinMaxInfoPdu, MoveSizeType, RailPdu, ServerSystemParameter, ServerSystemParametersPdu,
    SystemCommand,
};
use ironrdp_svc::{SvcMessage, SvcProcessor, SvcServerProcessor};

use crate::HostRect;

/// What the host asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RailEvent {
    /// The client finished the handshake; windows may be announced now.
    Ready {
        client_status: u32,
    },
    Exec {
        flags: u16,
        executable: String,
        working_directory: String,
        arguments: String,
    },
    /// The host activated (focused) a window, or deactivated it.
    Activate {
        window: u32,
        enabled: bool,
    },
    SysCommand {
        window: u32,
        command: SysCommand,
    },
    /// The host moved or resized a window (the final rectangle, after a host-side drag).
    WindowMove {
        window: u32,
        rect: HostRect,
    },
    /// The host snapped a window (Aero snap).
    SnapArrange {
        window: u32,
        rect: HostRect,
    },
    /// The area maximized windows should fill.
    WorkArea(HostRect),
    MouseButtonSwap(bool),
    GetAppId {
        window: u32,
    },
    /// The host's keyboard layout changed.
    KeyboardLayout {
        klid: u32,
    },
    Cloak {
        window: u32,
        cloaked: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysCommand {
    Minimize,
    Maximize,
    Restore,
    Close,
    Move,
    Size,
    KeyMenu,
    Default,
}

impl From<SystemCommand> for SysCommand {
    fn from(c: SystemCommand) -> Self {
        match c {
            SystemCommand::Minimize => SysCommand::Minimize,
            SystemCommand::Maximize => SysCommand::Maximize,
            SystemCommand::Restore => SysCommand::Restore,
            SystemCommand::Close => SysCommand::Close,
            SystemCommand::Move => SysCommand::Move,
            SystemCommand::Size => SysCommand::Size,
            SystemCommand::KeyMenu => SysCommand::KeyMenu,
            SystemCommand::Default => SysCommand::Default,
        }
    }
}

#[derive(Debug, Default)]
pub struct RailChannel {
    /// Send HandshakeEx (the client's Rail capability said it can take it).
    pub handshake_ex: bool,
    events: VecDeque<RailEvent>,
    ready: bool,
    client_status: u32,
    skipped: u64,
}

impl_as_any!(RailChannel);

impl RailChannel {
    pub fn take_events(&mut self) -> Vec<RailEvent> {
        self.events.drain(..).collect()
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The client's status flags (ClientStatusPdu::*).
    pub fn client_status(&self) -> u32 {
        self.client_status
    }

    pub fn allows_local_move_size(&self) -> bool {
        self.client_status & ClientStatusPdu::ALLOW_LOCAL_MOVE_SIZE != 0
    }

    /// How many undecodable PDUs were skipped (for tests and logs).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn exec_result(flags: u16, executable: &str, result: Result<(), ExecFailure>) -> SvcMessage {
        let (result, raw) = match result {
            Ok(()) => (ExecuteResult::Ok, 0),
            Err(ExecFailure::NotFound) => (ExecuteResult::FileNotFound, 2),
            // EACCES as the raw result.
            Err(ExecFailure::NotInAllowlist) => (ExecuteResult::NotInAllowlist, 13),
            Err(ExecFailure::Failed(code)) => (ExecuteResult::Fail, code),
        };
        let executable = if executable.is_empty() { "?".to_string() } else { executable.to_string() };
        // Only flags the result PDU may carry are echoed.
        let flags = flags & !ironrdp_rail::ExecutePdu::TRANSLATE_FILES & 0x001F;
        SvcMessage::from(RailPdu::ExecuteResult(ExecuteResultPdu { flags, result, raw_result: raw, executable }))
    }

    pub fn app_id_response(window: u32, app_id: &str, pid: u32, image: &str) -> SvcMessage {
        SvcMessage::from(RailPdu::GetApplicationIdResponseEx(GetApplicationIdResponseExPdu {
            window_id: window,
            application_id: app_id.to_string(),
            process_id: pid,
            process_image_name: image.to_string(),
        }))
    }

    /// Limits for a window: its maximized size and position, and its min/max track sizes.
    pub fn min_max_info(
        window: u32,
        max_size: (i16, i16),
        max_position: (i16, i16),
        min_track: (i16, i16),
        max_track: (i16, i16),
    ) -> SvcMessage {
        SvcMessage::from(RailPdu::MinMaxInfo(MinMaxInfoPdu {
            window_id: window,
            values: [
                max_size.0,
                max_size.1,
                max_position.0,
                max_position.1,
                min_track.0,
                min_track.1,
                max_track.0,
                max_track.1,
            ],
        }))
    }

    /// Hands an interactive move or resize to the host (it drags natively, then sends WindowMove).
    pub fn local_move_size(window: u32, start: bool, kind: MoveSizeType, x: i16, y: i16) -> SvcMessage {
        SvcMessage::from(RailPdu::LocalMoveSize(LocalMoveSizePdu {
            window_id: window,
            is_start: start,
            move_size_type: kind,
            x,
            y,
        }))
    }

    fn handle(&mut self, pdu: RailPdu) -> Vec<SvcMessage> {
        match pdu {
            RailPdu::Handshake(_) | RailPdu::HandshakeEx(_) => {
                tracing::debug!("RAIL handshake from the client");
            }
            RailPdu::ClientStatus(status) => {
                self.client_status = status.flags;
                tracing::debug!(flags = format!("{:#x}", status.flags), "RAIL client status");
                if !self.ready {
                    self.ready = true;
                    self.events.push_back(RailEvent::Ready { client_status: status.flags });
                    return vec![
                        SvcMessage::from(RailPdu::ServerSystemParameters(ServerSystemParametersPdu {
                            parameter: ServerSystemParameter::ScreenSaverActive,
                            enabled: false,
                        })),
                        SvcMessage::from(RailPdu::ServerSystemParameters(ServerSystemParametersPdu {
                            parameter: ServerSystemParameter::ScreenSaverSecure,
                            enabled: false,
                        })),
                    ];
                }
            }
            RailPdu::ClientSystemParameters(p) => {
                use ironrdp_rail::ClientSystemParameter as P;
                match p.parameter {
                    P::WorkArea(r) => self.events.push_back(RailEvent::WorkArea(rect(
                        r.left as i16,
                        r.top as i16,
                        r.right as i16,
                        r.bottom as i16,
                    ))),
                    P::MouseButtonSwap(swap) => self.events.push_back(RailEvent::MouseButtonSwap(swap)),
                    other => tracing::trace!("RAIL sysparam {other:?}"),
                }
            }
            RailPdu::Execute(e) => self.events.push_back(RailEvent::Exec {
                flags: e.flags,
                executable: e.executable,
                working_directory: e.working_directory,
                arguments: e.arguments,
            }),
            RailPdu::Activate(a) => {
                self.events.push_back(RailEvent::Activate { window: a.window_id, enabled: a.enabled })
            }
            RailPdu::SystemCommand(c) => {
                self.events.push_back(RailEvent::SysCommand { window: c.window_id, command: c.command.into() })
            }
            RailPdu::WindowMove(m) => {
                let r = m.rectangle;
                self.events.push_back(RailEvent::WindowMove {
                    window: m.window_id,
                    rect: rect(r.left, r.top, r.right, r.bottom),
                })
            }
            RailPdu::SnapArrange(m) => {
                let r = m.rectangle;
                self.events.push_back(RailEvent::SnapArrange {
                    window: m.window_id,
                    rect: rect(r.left, r.top, r.right, r.bottom),
                })
            }
            RailPdu::GetApplicationIdRequest(r) => self.events.push_back(RailEvent::GetAppId { window: r.window_id }),
            RailPdu::LanguageImeInfo(l) => self.events.push_back(RailEvent::KeyboardLayout { klid: l.keyboard_layout }),
            RailPdu::Cloak(c) => self.events.push_back(RailEvent::Cloak { window: c.window_id, cloaked: c.cloaked }),
            other => tracing::debug!("RAIL PDU ignored: {other:?}"),
        }
        Vec::new()
    }
}

/// Why an Exec failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecFailure {
    NotFound,
    /// Refused by the Exec policy (RAIL_EXEC_E_NOT_IN_ALLOWLIST).
    NotInAllowlist,
    /// RAIL_EXEC_E_FAIL with an errno.
    Failed(u32),
}

/// RDP rectangles here are exclusive on the right and bottom.
fn rect(left: i16, top: i16, right: i16, bottom: i16) -> HostRect {
    HostRect::new(
        left as i32,
        top as i32,
        (right as i32 - left as i32).max(0) as u32,
        (bottom as i32 - top as i32).max(0) as u32,
    )
}

/// TS_RAIL_ORDER_EXEC with the lengths counting a NUL terminator (FreeRDP 2.x), which the
/// strict decoder refuses.
fn lenient_exec(payload: &[u8]) -> Option<RailPdu> {
    let rd = |o: usize| payload.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    if rd(0)? != 0x0001 {
        return None;
    }
    let (flags, exe_len, dir_len, args_len) = (rd(4)? as u16, rd(6)?, rd(8)?, rd(10)?);
    let utf16 = |o: usize, len: usize| -> Option<String> {
        let bytes = payload.get(o..o.checked_add(len)?)?;
        let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        Some(String::from_utf16_lossy(&units).trim_end_matches('\0').to_string())
    };
    let executable = utf16(12, exe_len)?;
    let working_directory = utf16(12 + exe_len, dir_len)?;
    let arguments = utf16(12 + exe_len + dir_len, args_len)?;
    Some(RailPdu::Execute(ironrdp_rail::ExecutePdu { flags, executable, working_directory, arguments }))
}

impl SvcProcessor for RailChannel {
    fn channel_name(&self) -> ChannelName {
        ChannelName::from_static(b"rail\0\0\0\0")
    }

    fn start(&mut self) -> PduResult<Vec<SvcMessage>> {
        let pdu = if self.handshake_ex {
            RailPdu::HandshakeEx(HandshakeExPdu {
                build_number: 0x4A64,
                flags: HandshakeExPdu::HIDEF | HandshakeExPdu::EXTENDED_SPI | HandshakeExPdu::SNAP_ARRANGE,
            })
        } else {
            RailPdu::Handshake(HandshakePdu { build_number: 0x4A64 })
        };
        Ok(vec![SvcMessage::from(pdu)])
    }

    fn process(&mut self, payload: &[u8]) -> PduResult<Vec<SvcMessage>> {
        let pdu = match decode::<RailPdu>(payload) {
            Ok(pdu) => pdu,
            Err(err) => match lenient_exec(payload) {
                Some(pdu) => pdu,
                None => {
                    self.skipped += 1;
                    let order = payload.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
                    tracing::warn!(order = ?order.map(|o| format!("{o:#06x}")), len = payload.len(), "RAIL PDU skipped: {err}");
                    return Ok(Vec::new());
                }
            },
        };
        Ok(self.handle(pdu))
    }
}

impl SvcServerProcessor for RailChannel {}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_core::encode_vec;
    use ironrdp_rail::*;

    fn feed(ch: &mut RailChannel, pdu: RailPdu) -> Vec<SvcMessage> {
        ch.process(&encode_vec(&pdu).unwrap()).unwrap()
    }

    #[test]
    fn handshake_status_then_requests() {
        let mut ch = RailChannel::default();
        assert_eq!(ch.start().unwrap().len(), 1);
        assert!(feed(&mut ch, RailPdu::Handshake(HandshakePdu { build_number: 1 })).is_empty());
        let out =
            feed(&mut ch, RailPdu::ClientStatus(ClientStatusPdu { flags: ClientStatusPdu::ALLOW_LOCAL_MOVE_SIZE }));
        assert_eq!(out.len(), 2, "server sysparams after the first client status");
        assert!(ch.is_ready() && ch.allows_local_move_size());
        feed(&mut ch, RailPdu::Activate(ActivatePdu { window_id: 7, enabled: true }));
        feed(&mut ch, RailPdu::SystemCommand(SystemCommandPdu { window_id: 7, command: SystemCommand::Close }));
        feed(
            &mut ch,
            RailPdu::WindowMove(WindowMovePdu {
                window_id: 7,
                rectangle: Rectangle { left: -10, top: 5, right: 90, bottom: 105 },
            }),
        );
        assert_eq!(
            ch.take_events(),
            vec![
                RailEvent::Ready { client_status: ClientStatusPdu::ALLOW_LOCAL_MOVE_SIZE },
                RailEvent::Activate { window: 7, enabled: true },
                RailEvent::SysCommand { window: 7, command: SysCommand::Close },
                RailEvent::WindowMove { window: 7, rect: HostRect::new(-10, 5, 100, 100) },
            ]
        );
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        let mut ch = RailChannel::default();
        for bad in [&[][..], &[1][..], &[0xff, 0xff, 4, 0][..], &[0x13, 0, 8, 0, 1, 2, 3, 4][..]] {
            assert!(ch.process(bad).unwrap().is_empty());
        }
        assert_eq!(ch.skipped(), 4);
        assert!(ch.take_events().is_empty());
    }

    #[test]
    fn exec_with_nul_terminated_strings_is_accepted() {
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect() };
        let (exe, dir, args) = (utf16("foot"), utf16(""), utf16("-e top"));
        let mut payload = vec![];
        payload.extend(1u16.to_le_bytes());
        payload.extend(((12 + exe.len() + dir.len() + args.len()) as u16).to_le_bytes());
        payload.extend(0u16.to_le_bytes());
        payload.extend((exe.len() as u16).to_le_bytes());
        payload.extend((dir.len() as u16).to_le_bytes());
        payload.extend((args.len() as u16).to_le_bytes());
        payload.extend(&exe);
        payload.extend(&dir);
        payload.extend(&args);
        let mut ch = RailChannel::default();
        ch.process(&payload).unwrap();
        assert_eq!(
            ch.take_events(),
            vec![RailEvent::Exec {
                flags: 0,
                executable: "foot".into(),
                working_directory: String::new(),
                arguments: "-e top".into()
            }]
        );
    }

    #[test]
    fn exec_results_encode() {
        for r in [Ok(()), Err(ExecFailure::NotFound), Err(ExecFailure::NotInAllowlist), Err(ExecFailure::Failed(1))] {
            let msg = RailChannel::exec_result(0, "foot", r);
            let _ = msg;
        }
        let bytes = encode_vec(&RailPdu::ExecuteResult(ExecuteResultPdu {
            flags: 0,
            result: ExecuteResult::FileNotFound,
            raw_result: 2,
            executable: "nope".into(),
        }))
        .unwrap();
        let back: RailPdu = decode(&bytes).unwrap();
        assert!(matches!(back, RailPdu::ExecuteResult(r) if r.result == ExecuteResult::FileNotFound));
    }
}
