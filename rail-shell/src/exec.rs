//! Turning a RAIL Exec request into a command line.

/// Splits an argument string the way a shell would for plain words and quotes: spaces
/// separate, "double" and 'single' quotes group, a backslash escapes the next character
/// outside single quotes.
pub fn split_arguments(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => match chars.next() {
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => return Err("a backslash at the end".into()),
            },
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// The program and its arguments for an Exec of `executable` with `arguments`. A client may
/// put a whole command line into the executable field (`/app:program:"foot -e top"`); with
/// no separate arguments that is split too.
pub fn command_line(executable: &str, arguments: &str) -> Result<(String, Vec<String>), String> {
    let executable = executable.trim();
    if executable.is_empty() {
        return Err("no program given".into());
    }
    let mut args = split_arguments(arguments)?;
    let program = if arguments.trim().is_empty()
        && executable.contains(char::is_whitespace)
        && !std::path::Path::new(executable).exists()
    {
        let mut words = split_arguments(executable)?;
        if words.is_empty() {
            return Err("no program given".into());
        }
        let program = words.remove(0);
        words.append(&mut args);
        args = words;
        program
    } else {
        executable.to_string()
    };
    Ok((program, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_arguments(r#"-e "top -d 1" 'a b' c\ d"#).unwrap(), vec!["-e", "top -d 1", "a b", "c d"]);
        assert_eq!(split_arguments("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_arguments(r#""""#).unwrap(), vec![""]);
        assert!(split_arguments("'open").is_err());
        assert!(split_arguments("end\\").is_err());
    }

    #[test]
    fn command_lines() {
        assert_eq!(command_line("foot", "").unwrap(), ("foot".into(), vec![]));
        assert_eq!(command_line("foot -e top", "").unwrap(), ("foot".into(), vec!["-e".into(), "top".into()]));
        assert_eq!(
            command_line("xterm", "-T 'my term'").unwrap(),
            ("xterm".into(), vec!["-T".into(), "my term".into()])
        );
        assert!(command_line("  ", "").is_err());
    }
}
