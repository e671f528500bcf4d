//! Command-line parsing with the rules of glibc's `getopt_long`, which MIT
//! krb5's tools use on Linux.
//!
//! Short options may be combined (`-ket`). An option argument may follow
//! its letter directly (`-l10h`) or come as the next word (`-l 10h`).
//! Operands and options may come in any order because glibc permutes them,
//! `--` ends the options, and a long option may be abbreviated to any
//! unique prefix.
//! Diagnostics use glibc's wording, such as
//! `klist: invalid option -- 'Z'`, so scripts see what MIT's tools print.

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasArg {
    No,
    Required,
}

/// A long option: its name without `--`, whether it takes an argument, and
/// the identifier [`Parsed::options`] reports for it.
#[derive(Clone, Copy, Debug)]
pub struct LongOption {
    pub name: &'static str,
    pub has_arg: HasArg,
    pub id: OptionId,
}

/// An option as reported to the tool: a short letter or a long option's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionId {
    Short(char),
    Long(&'static str),
}

/// The result of parsing: options in command-line order, operands in order,
/// and glibc-style diagnostics for every invalid option.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub options: Vec<(OptionId, Option<String>)>,
    pub operands: Vec<String>,
    pub errors: Vec<String>,
}

/// Parses `args` (without the program name) against `short_options`, in
/// getopt's syntax (`"kt:c:"`: a letter followed by `:` takes an argument),
/// and `long_options`. `program` prefixes the diagnostics.
pub fn parse(
    program: &str,
    args: &[String],
    short_options: &str,
    long_options: &[LongOption],
) -> Parsed {
    let mut parsed = Parsed::default();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;

        if arg == "--" {
            parsed.operands.extend(args[index..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            parse_long(program, long, args, &mut index, long_options, &mut parsed);
        } else if arg.len() > 1 && arg.starts_with('-') {
            parse_short_cluster(
                program,
                &arg[1..],
                args,
                &mut index,
                short_options,
                &mut parsed,
            );
        } else {
            parsed.operands.push(arg.clone());
        }
    }
    parsed
}

/// Looks up a short option letter: `None` if it is not in `short_options`,
/// otherwise whether it takes an argument.
fn short_option(short_options: &str, letter: char) -> Option<HasArg> {
    if letter == ':' {
        return None;
    }
    let mut chars = short_options.chars().peekable();
    while let Some(c) = chars.next() {
        let takes_argument = chars.peek() == Some(&':');
        if takes_argument {
            chars.next();
        }
        if c == letter {
            return Some(if takes_argument {
                HasArg::Required
            } else {
                HasArg::No
            });
        }
    }
    None
}

fn parse_short_cluster(
    program: &str,
    cluster: &str,
    args: &[String],
    index: &mut usize,
    short_options: &str,
    parsed: &mut Parsed,
) {
    for (offset, letter) in cluster.char_indices() {
        match short_option(short_options, letter) {
            None => parsed
                .errors
                .push(format!("{program}: invalid option -- '{letter}'")),
            Some(HasArg::No) => parsed.options.push((OptionId::Short(letter), None)),
            Some(HasArg::Required) => {
                // The rest of the word is the argument; without a rest, the
                // next word is, even if it starts with '-'.
                let rest = &cluster[offset + letter.len_utf8()..];
                if !rest.is_empty() {
                    parsed
                        .options
                        .push((OptionId::Short(letter), Some(rest.to_string())));
                } else if let Some(next) = args.get(*index) {
                    *index += 1;
                    parsed
                        .options
                        .push((OptionId::Short(letter), Some(next.clone())));
                } else {
                    parsed.errors.push(format!(
                        "{program}: option requires an argument -- '{letter}'"
                    ));
                }
                return;
            }
        }
    }
}

fn parse_long(
    program: &str,
    word: &str,
    args: &[String],
    index: &mut usize,
    long_options: &[LongOption],
    parsed: &mut Parsed,
) {
    let (name, inline_value) = match word.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (word, None),
    };

    let option = match long_options.iter().find(|o| o.name == name) {
        Some(exact) => exact,
        None => {
            let candidates: Vec<&LongOption> = long_options
                .iter()
                .filter(|o| o.name.starts_with(name))
                .collect();
            match candidates.as_slice() {
                [only] => *only,
                [] => {
                    parsed
                        .errors
                        .push(format!("{program}: unrecognized option '--{name}'"));
                    return;
                }
                several => {
                    let names: Vec<String> =
                        several.iter().map(|o| format!("'--{}'", o.name)).collect();
                    parsed.errors.push(format!(
                        "{program}: option '--{name}' is ambiguous; possibilities: {}",
                        names.join(" ")
                    ));
                    return;
                }
            }
        }
    };

    match (option.has_arg, inline_value) {
        (HasArg::No, Some(_)) => parsed.errors.push(format!(
            "{program}: option '--{}' doesn't allow an argument",
            option.name
        )),
        (HasArg::No, None) => parsed.options.push((option.id, None)),
        (HasArg::Required, Some(value)) => parsed.options.push((option.id, Some(value))),
        (HasArg::Required, None) => match args.get(*index) {
            Some(next) => {
                *index += 1;
                parsed.options.push((option.id, Some(next.clone())));
            }
            None => parsed.errors.push(format!(
                "{program}: option '--{}' requires an argument",
                option.name
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn short(letter: char, value: Option<&str>) -> (OptionId, Option<String>) {
        (OptionId::Short(letter), value.map(String::from))
    }

    const LONG: &[LongOption] = &[
        LongOption {
            name: "cached-only",
            has_arg: HasArg::No,
            id: OptionId::Long("cached-only"),
        },
        LongOption {
            name: "out-cache",
            has_arg: HasArg::Required,
            id: OptionId::Long("out-cache"),
        },
        LongOption {
            name: "request-pac",
            has_arg: HasArg::No,
            id: OptionId::Long("request-pac"),
        },
        LongOption {
            name: "request-other",
            has_arg: HasArg::No,
            id: OptionId::Long("request-other"),
        },
    ];

    #[test]
    fn combined_flags() {
        let parsed = parse("klist", &words("-ket FILE:/k"), "ketc", &[]);
        assert_eq!(
            parsed.options,
            [short('k', None), short('e', None), short('t', None)]
        );
        assert_eq!(parsed.operands, ["FILE:/k"]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn attached_and_separate_arguments() {
        let parsed = parse(
            "kinit",
            &words("-l10h -r 7d -fc /tmp/cc alice"),
            "l:r:fc:",
            &[],
        );
        assert_eq!(
            parsed.options,
            [
                short('l', Some("10h")),
                short('r', Some("7d")),
                short('f', None),
                short('c', Some("/tmp/cc")),
            ]
        );
        assert_eq!(parsed.operands, ["alice"]);
    }

    #[test]
    fn argument_may_start_with_dash() {
        let parsed = parse("kinit", &words("-c -weird"), "c:", &[]);
        assert_eq!(parsed.options, [short('c', Some("-weird"))]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn operands_before_options_are_permuted() {
        let parsed = parse("kinit", &words("alice -l 1h"), "l:", &[]);
        assert_eq!(parsed.options, [short('l', Some("1h"))]);
        assert_eq!(parsed.operands, ["alice"]);
    }

    #[test]
    fn double_dash_ends_options() {
        let parsed = parse("kvno", &words("-q -- -x y"), "q", &[]);
        assert_eq!(parsed.options, [short('q', None)]);
        assert_eq!(parsed.operands, ["-x", "y"]);
    }

    #[test]
    fn lone_dash_is_an_operand() {
        let parsed = parse("klist", &words("-"), "c", &[]);
        assert_eq!(parsed.operands, ["-"]);
    }

    #[test]
    fn invalid_and_missing_argument_messages() {
        let parsed = parse("klist", &words("-Z -c"), "c:", &[]);
        assert_eq!(
            parsed.errors,
            [
                "klist: invalid option -- 'Z'",
                "klist: option requires an argument -- 'c'"
            ]
        );
    }

    #[test]
    fn colon_is_never_an_option() {
        let parsed = parse("klist", &words("-:"), "c:", &[]);
        assert_eq!(parsed.errors, ["klist: invalid option -- ':'"]);
    }

    #[test]
    fn long_options_exact_prefix_and_value() {
        let parsed = parse(
            "kvno",
            &words("--cached --out-cache=/tmp/a --out-cache /tmp/b svc"),
            "",
            LONG,
        );
        assert_eq!(
            parsed.options,
            [
                (OptionId::Long("cached-only"), None),
                (OptionId::Long("out-cache"), Some("/tmp/a".to_string())),
                (OptionId::Long("out-cache"), Some("/tmp/b".to_string())),
            ]
        );
        assert_eq!(parsed.operands, ["svc"]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn long_option_errors() {
        let parsed = parse(
            "kvno",
            &words("--bogus --request --cached-only=1 --out-cache"),
            "",
            LONG,
        );
        assert_eq!(
            parsed.errors,
            [
                "kvno: unrecognized option '--bogus'",
                "kvno: option '--request' is ambiguous; possibilities: '--request-pac' '--request-other'",
                "kvno: option '--cached-only' doesn't allow an argument",
                "kvno: option '--out-cache' requires an argument",
            ]
        );
    }
}
