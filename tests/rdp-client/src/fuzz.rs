//! Seeded mutators for robustness tests: malformed RAIL PDUs and EGFX frame acknowledgements,
//! the same on every run.

use ironrdp_egfx::pdu::{FrameAcknowledgePdu, GfxPdu, QueueDepth};

/// xorshift32: the same sequence on every run.
pub struct Rng(pub u32);

impl Rng {
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.next_u32() as usize % n.max(1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u32() as u8).collect()
    }
}

/// Well-formed client RAIL PDUs to mutate (never Exec: a mutated Exec would run programs).
pub fn rail_seeds(window_id: u32) -> Vec<Vec<u8>> {
    use ironrdp_core::encode_vec;
    use ironrdp_rail::*;
    let pdus = vec![
        RailPdu::Handshake(HandshakePdu { build_number: 7 }),
        RailPdu::ClientStatus(ClientStatusPdu { flags: ClientStatusPdu::ALLOW_LOCAL_MOVE_SIZE }),
        RailPdu::Activate(ActivatePdu { window_id, enabled: true }),
        RailPdu::SystemCommand(SystemCommandPdu { window_id, command: SystemCommand::Maximize }),
        RailPdu::WindowMove(WindowMovePdu {
            window_id,
            rectangle: Rectangle { left: 1, top: 2, right: 30, bottom: 40 },
        }),
        RailPdu::SnapArrange(SnapArrangePdu {
            window_id,
            rectangle: Rectangle { left: 0, top: 0, right: 512, bottom: 768 },
        }),
        RailPdu::GetApplicationIdRequest(GetApplicationIdRequestPdu { window_id }),
        RailPdu::SystemMenu(SystemMenuPdu { window_id, left: 5, top: 6 }),
        RailPdu::ClientSystemParameters(ClientSystemParametersPdu {
            parameter: ClientSystemParameter::WorkArea(SystemParameterRectangle {
                left: 0,
                top: 0,
                right: 1024,
                bottom: 740,
            }),
        }),
        RailPdu::ClientSystemParameters(ClientSystemParametersPdu {
            parameter: ClientSystemParameter::MouseButtonSwap(false),
        }),
        RailPdu::Cloak(CloakPdu { window_id, cloaked: true }),
    ];
    pdus.iter().map(|p| encode_vec(p).expect("encoding a seed")).collect()
}

/// A RAIL payload for robustness tests: random bytes, a truncated or extended seed, flipped
/// bytes, a lying length, a random order type with a random body, or (a third of them) a
/// well-formed PDU with random values aimed at `seeds`' window ([`random_rail`] with
/// `window_id`). Never an Exec (order type 1).
pub fn mutated_rail(rng: &mut Rng, seeds: &[Vec<u8>], window_id: u32) -> Vec<u8> {
    let seed = seeds[rng.below(seeds.len())].clone();
    let mut out = match rng.below(9) {
        6..=8 => random_rail(rng, window_id),
        0 => {
            let n = rng.below(64);
            rng.bytes(n)
        }
        1 => seed[..rng.below(seed.len())].to_vec(),
        2 => {
            let mut s = seed;
            let extra = rng.below(32) + 1;
            s.extend(rng.bytes(extra));
            s
        }
        3 => {
            let mut s = seed;
            for _ in 0..=rng.below(4) {
                let i = rng.below(s.len());
                s[i] = rng.next_u32() as u8;
            }
            s
        }
        4 => {
            let mut s = seed;
            let len = rng.next_u32() as u16;
            s[2..4].copy_from_slice(&len.to_le_bytes());
            s
        }
        _ => {
            // A valid header for a random order type with a random body.
            let n = rng.below(40);
            let body = rng.bytes(n);
            let mut s = ((rng.below(0x1A) + 1) as u16).to_le_bytes().to_vec();
            s.extend(((body.len() + 4) as u16).to_le_bytes());
            s.extend(body);
            s
        }
    };
    if out.len() >= 2 && out[0] == 1 && out[1] == 0 {
        out[0] = 2;
    }
    out
}

/// A mutated RDPGFX_FRAME_ACKNOWLEDGE: `structural` ones break the PDU itself (which may end
/// the session), the others carry random frame ids, queue depths and counts.
pub fn mutated_ack(rng: &mut Rng, last_frame: u32, structural: bool) -> Vec<u8> {
    use ironrdp_core::encode_vec;
    let queue_depth = match rng.below(4) {
        0 => QueueDepth::Unavailable,
        1 => QueueDepth::AvailableBytes(rng.next_u32() | 1),
        2 => QueueDepth::Suspend,
        _ => QueueDepth::AvailableBytes(1),
    };
    let frame_id = match rng.below(4) {
        0 => last_frame,
        1 => last_frame.wrapping_add(rng.below(4) as u32),
        2 => last_frame.wrapping_sub(rng.below(4) as u32),
        _ => rng.next_u32(),
    };
    let pdu =
        GfxPdu::FrameAcknowledge(FrameAcknowledgePdu { queue_depth, frame_id, total_frames_decoded: rng.next_u32() });
    let mut bytes = encode_vec(&pdu).expect("encoding a frame acknowledgement");
    if structural {
        match rng.below(4) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                let len = rng.next_u32();
                bytes[4..8].copy_from_slice(&len.to_le_bytes());
            }
            2 => {
                let n = rng.below(16) + 1;
                bytes.extend(rng.bytes(n))
            }
            _ => {
                let i = rng.below(8);
                bytes[i] = rng.next_u32() as u8;
            }
        }
    }
    bytes
}

/// A well-formed client RAIL PDU with random values: window ids (mostly `window_id`),
/// rectangles anywhere in the 16-bit range (inverted and huge ones too), system commands
/// (never Close, so a target window lives on), activation, app id requests, work areas,
/// cloaking. Never an Exec.
pub fn random_rail(rng: &mut Rng, window_id: u32) -> Vec<u8> {
    use ironrdp_core::encode_vec;
    use ironrdp_rail::*;
    let window_id = match rng.below(8) {
        0 => rng.next_u32(),
        1 => 0,
        _ => window_id,
    };
    let mut coord = || -> i16 {
        match rng.below(4) {
            0 => rng.next_u32() as i16,
            1 => (rng.below(3000) as i16) - 1000,
            _ => rng.below(1300) as i16,
        }
    };
    let rectangle = Rectangle { left: coord(), top: coord(), right: coord(), bottom: coord() };
    let commands = [
        SystemCommand::Size,
        SystemCommand::Move,
        SystemCommand::Minimize,
        SystemCommand::Maximize,
        SystemCommand::KeyMenu,
        SystemCommand::Restore,
        SystemCommand::Default,
    ];
    let u16s = |rng: &mut Rng| rng.next_u32() as u16;
    let pdu = match rng.below(8) {
        0 => RailPdu::Activate(ActivatePdu { window_id, enabled: rng.below(2) == 0 }),
        1 | 2 => RailPdu::SystemCommand(SystemCommandPdu { window_id, command: commands[rng.below(commands.len())] }),
        3 => RailPdu::WindowMove(WindowMovePdu { window_id, rectangle }),
        4 => RailPdu::SnapArrange(SnapArrangePdu { window_id, rectangle }),
        5 => RailPdu::GetApplicationIdRequest(GetApplicationIdRequestPdu { window_id }),
        6 => RailPdu::ClientSystemParameters(ClientSystemParametersPdu {
            parameter: ClientSystemParameter::WorkArea(SystemParameterRectangle {
                left: u16s(rng),
                top: u16s(rng),
                right: u16s(rng),
                bottom: u16s(rng),
            }),
        }),
        _ => RailPdu::Cloak(CloakPdu { window_id, cloaked: rng.below(2) == 0 }),
    };
    encode_vec(&pdu).unwrap_or_else(|_| vec![0xFF, 0xFF, 4, 0])
}
