//! Keyboard layouts as hosts name them. A host says which layout its user types on as a
//! Windows keyboard layout id (KLID); the compositor loads the xkb layout of that name.

/// The xkb layout and variant for a Windows keyboard layout id (KLID), None when unknown.
pub fn klid_to_xkb(klid: u32) -> Option<(&'static str, &'static str)> {
    Some(match klid {
        0x0000_0409 => ("us", ""),
        0x0001_0409 => ("us", "dvorak"),
        0x0002_0409 => ("us", "intl"),
        0x0000_0809 => ("gb", ""),
        0x0000_1809 => ("ie", ""),
        0x0000_1009 => ("ca", "fr"),
        0x0000_0407 => ("de", ""),
        0x0000_0807 => ("ch", ""),
        0x0000_100C => ("ch", "fr"),
        0x0000_0C07 => ("at", ""),
        0x0000_040C => ("fr", ""),
        0x0000_080C => ("be", ""),
        0x0000_0813 => ("be", ""),
        0x0000_0C0C => ("ca", "fr-legacy"),
        0x0000_040A | 0x0000_0C0A => ("es", ""),
        0x0000_080A => ("latam", ""),
        0x0000_0410 => ("it", ""),
        0x0000_0411 | 0xE001_0411 | 0xE002_0411 => ("jp", ""),
        0x0000_0412 | 0xE001_0412 => ("kr", ""),
        0x0000_0419 => ("ru", ""),
        0x0000_0422 => ("ua", ""),
        0x0000_0416 => ("br", ""),
        0x0000_0816 => ("pt", ""),
        0x0000_041D => ("se", ""),
        0x0000_0414 => ("no", ""),
        0x0000_0406 => ("dk", ""),
        0x0000_040B => ("fi", ""),
        0x0000_0413 => ("nl", ""),
        0x0000_0415 | 0x0001_0415 => ("pl", ""),
        0x0000_0405 => ("cz", ""),
        0x0000_041B => ("sk", ""),
        0x0000_040E => ("hu", ""),
        0x0000_041F => ("tr", ""),
        0x0000_0408 => ("gr", ""),
        0x0000_040D => ("il", ""),
        0x0000_0401 => ("ara", ""),
        0x0000_0804 | 0x0000_0404 => ("cn", ""),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(klid_to_xkb(0x409), Some(("us", "")));
        assert_eq!(klid_to_xkb(0x407), Some(("de", "")));
        assert_eq!(klid_to_xkb(0x809), Some(("gb", "")));
        assert_eq!(klid_to_xkb(0x411), Some(("jp", "")));
        assert_eq!(klid_to_xkb(0x12345), None);
    }
}
