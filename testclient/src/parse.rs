//! The probes' argument formats and the arithmetic of scales.

use anyhow::{bail, Context};

/// `RRGGBB` (an optional `#` before it) as opaque ARGB.
pub fn parse_color(s: &str) -> anyhow::Result<u32> {
    let hex = s.trim_start_matches('#');
    if hex.len() != 6 {
        bail!("colour {s:?} is not RRGGBB");
    }
    let rgb = u32::from_str_radix(hex, 16).with_context(|| format!("colour {s:?} is not RRGGBB"))?;
    Ok(0xff00_0000 | rgb)
}

/// `WIDTHxHEIGHT`, each 1 to 4096.
pub fn parse_size(s: &str) -> anyhow::Result<(i32, i32)> {
    let (w, h) = s.split_once('x').context("size is WIDTHxHEIGHT")?;
    let (w, h): (i32, i32) = (w.parse()?, h.parse()?);
    if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
        bail!("size {w}x{h} out of range");
    }
    Ok((w, h))
}

/// The buffer size for a logical size at a scale in 120ths: rounded to the nearest pixel,
/// halves up, as wp_fractional_scale_v1 asks.
pub fn scaled(logical: i32, scale120: u32) -> i32 {
    ((i64::from(logical) * i64::from(scale120) + 60) / 120) as i32
}

/// The size a toplevel draws at after a configure: the one asked for (at most 4096 a side),
/// or its own when the compositor left the choice to it (0).
pub fn configured_size(asked: (i32, i32), own: (i32, i32)) -> (i32, i32) {
    match asked {
        (w, h) if w > 0 && h > 0 => (w.min(4096), h.min(4096)),
        _ => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_sizes() {
        assert_eq!(parse_color("30a050").unwrap(), 0xff30_a050);
        assert_eq!(parse_color("#2060c0").unwrap(), 0xff20_60c0);
        assert!(parse_color("30a05").is_err());
        assert!(parse_color("30a05g").is_err());
        assert_eq!(parse_size("8x9").unwrap(), (8, 9));
        assert!(parse_size("0x9").is_err());
        assert!(parse_size("4097x9").is_err());
        assert!(parse_size("89").is_err());
    }

    #[test]
    fn buffer_sizes_round_to_the_nearest_pixel() {
        assert_eq!(scaled(853, 180), 1280);
        assert_eq!(scaled(533, 180), 800);
        assert_eq!(scaled(101, 150), 126);
        assert_eq!(scaled(400, 120), 400);
        assert_eq!(scaled(3, 180), 5);
    }

    #[test]
    fn configures_pick_the_size() {
        assert_eq!(configured_size((0, 0), (320, 240)), (320, 240));
        assert_eq!(configured_size((800, 0), (320, 240)), (320, 240));
        assert_eq!(configured_size((800, 600), (320, 240)), (800, 600));
        assert_eq!(configured_size((9000, 600), (320, 240)), (4096, 600));
    }
}
