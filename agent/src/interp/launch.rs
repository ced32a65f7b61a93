//! Which interpreter a process runs, and what it was told to run: the executable's name
//! gives the language and version, `/proc/PID/cmdline` the script or module and the
//! options that change the search path, `/proc/PID/environ` the search path variables.
//! All of it is read as data (see `proc_pid_cmdline(5)`, `proc_pid_environ(5)`); nothing
//! here is ever executed.

/// A language whose programs load code from files the probe can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Python,
    Perl,
    Ruby,
    Node,
}

/// An interpreter recognised by its executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub lang: Lang,
    /// `3.11` of `python3.11`, `3.1` of `ruby3.1`: selects the versioned directories.
    pub version: Option<String>,
}

/// Recognises an interpreter by the path of its executable (`/proc/PID/exe`, which names
/// the real file, e.g. `/usr/bin/python3.11` for a process started as `python3`).
pub fn recognise(exe: &str) -> Option<Interpreter> {
    let name = exe.rsplit('/').next()?;
    let versioned = |prefix: &str| -> Option<Option<String>> {
        let rest = name.strip_prefix(prefix)?;
        if rest.is_empty() {
            return Some(None);
        }
        let ok = rest
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| Some(rest.to_string()))
    };
    if let Some(v) = versioned("python") {
        // `python3` alone names no minor version: its directories are not known.
        let version = v.filter(|v| v.contains('.'));
        return Some(Interpreter {
            lang: Lang::Python,
            version,
        });
    }
    if let Some(version) = versioned("perl") {
        return Some(Interpreter {
            lang: Lang::Perl,
            version,
        });
    }
    if let Some(version) = versioned("ruby") {
        return Some(Interpreter {
            lang: Lang::Ruby,
            version,
        });
    }
    matches!(name, "node" | "nodejs").then_some(Interpreter {
        lang: Lang::Node,
        version: None,
    })
}

/// What the command line asks the interpreter to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// The main script, as written (relative to the process's working directory or not).
    pub script: Option<String>,
    /// `python -m MODULE`.
    pub module: Option<String>,
    /// Program text given inline (`-c`, `-e`, `--eval`): parsed for imports too.
    pub code: Vec<String>,
    /// Directories put first on the search path (`perl -I`, `ruby -I`).
    pub include: Vec<String>,
    /// Modules loaded before the script (`perl -M`, `ruby -r`, `node -r`/`--import`).
    pub preload: Vec<String>,
    /// The interpreter ignores its search path variables (`python -E`/`-I`, `perl -T`).
    pub ignore_env: bool,
    /// The script's directory is not put on the search path (`python -I`/`-P`).
    pub safe_path: bool,
}

/// Splits `/proc/PID/cmdline` (NUL-separated) into arguments, dropping argv\[0\].
pub fn arguments(cmdline: &[u8]) -> Vec<String> {
    let text = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    text.split(|b| *b == 0)
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The value of `name` in `/proc/PID/environ` (NUL-separated `NAME=value`).
pub fn env_var(environ: &[u8], name: &str) -> Option<String> {
    environ.split(|b| *b == 0).find_map(|entry| {
        let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// Reads the interpreter's options up to the script, the way `lang`'s interpreter does.
pub fn parse(lang: Lang, args: &[String]) -> Launch {
    let mut l = Launch::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            if l.code.is_empty() && l.module.is_none() {
                l.script = it.next().cloned();
            }
            break;
        }
        if arg == "-" || !arg.starts_with('-') {
            let ran_inline = !l.code.is_empty() || l.module.is_some();
            if arg != "-" && !ran_inline {
                l.script = Some(arg.clone());
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if long_option(lang, long, &mut it, &mut l) {
                break;
            }
            continue;
        }
        if cluster(lang, &arg[1..], &mut it, &mut l) {
            break;
        }
    }
    l
}

/// A `--long` option; true when the rest of the arguments belong to the program.
fn long_option<'a>(
    lang: Lang,
    long: &str,
    it: &mut impl Iterator<Item = &'a String>,
    l: &mut Launch,
) -> bool {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (long, None),
    };
    let value =
        |it: &mut dyn Iterator<Item = &'a String>| inline.clone().or_else(|| it.next().cloned());
    match (lang, name) {
        (Lang::Node, "require" | "import" | "loader" | "experimental-loader") => {
            l.preload.extend(value(it));
        }
        (Lang::Node, "eval" | "print") => {
            l.code.extend(value(it));
            return true;
        }
        (Lang::Node, "title" | "input-type" | "conditions" | "env-file") if inline.is_none() => {
            it.next();
        }
        (Lang::Python, "check-hash-based-pycs") if inline.is_none() => {
            it.next();
        }
        (Lang::Ruby, "encoding" | "external-encoding" | "internal-encoding")
            if inline.is_none() =>
        {
            it.next();
        }
        _ => {}
    }
    false
}

/// A cluster of short options (`-uB`, `-Ilib`, `-mhttp.server`); true when the rest of the
/// arguments belong to the program.
fn cluster<'a>(
    lang: Lang,
    flags: &str,
    it: &mut impl Iterator<Item = &'a String>,
    l: &mut Launch,
) -> bool {
    for (at, c) in flags.char_indices() {
        let rest = &flags[at + c.len_utf8()..];
        // The option's value: the rest of the cluster, or else the next argument.
        let mut value = || {
            if rest.is_empty() {
                it.next().cloned()
            } else {
                Some(rest.to_string())
            }
        };
        match (lang, c) {
            (Lang::Python, 'c') => {
                l.code.extend(value());
                return true;
            }
            (Lang::Python, 'm') => {
                l.module = value();
                return true;
            }
            (Lang::Python, 'W' | 'X') => {
                value();
                return false;
            }
            (Lang::Python, 'E') => l.ignore_env = true,
            (Lang::Python, 'I') => {
                l.ignore_env = true;
                l.safe_path = true;
            }
            (Lang::Python, 'P') => l.safe_path = true,
            (Lang::Perl | Lang::Ruby, 'I') => {
                l.include.extend(value());
                return false;
            }
            (Lang::Perl, 'M' | 'm') | (Lang::Ruby, 'r') => {
                let module = value().unwrap_or_default();
                let module = module.trim_start_matches('-');
                let end = module.find(['=', ' ']).unwrap_or(module.len());
                if end > 0 {
                    l.preload.push(module[..end].to_string());
                }
                return false;
            }
            (Lang::Perl | Lang::Ruby, 'e' | 'E') if !(lang == Lang::Ruby && c == 'E') => {
                // `-e` may repeat: the program is every `-e` together, and no script.
                l.code.extend(value());
                return false;
            }
            (Lang::Perl, 'T' | 't') => l.ignore_env = true,
            // Options whose value is the rest of the cluster, if any.
            (Lang::Perl, '0' | 'l' | 'i' | 'x' | 'C' | 'd' | 'D' | 'F')
            | (Lang::Ruby, '0' | 'K' | 'T' | 'W' | 'x' | 'F' | 'i' | 'l' | 'd') => return false,
            (Lang::Ruby, 'C' | 'E') => {
                value();
                return false;
            }
            (Lang::Node, 'r') => {
                l.preload.extend(value());
                return false;
            }
            (Lang::Node, 'e' | 'p') => {
                l.code.extend(value());
                return true;
            }
            (Lang::Node, 'C') => {
                value();
                return false;
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn recognises_interpreters_by_executable() {
        let py = recognise("/usr/bin/python3.11").expect("python");
        assert_eq!(
            (py.lang, py.version.as_deref()),
            (Lang::Python, Some("3.11"))
        );
        assert_eq!(recognise("/usr/bin/python3").map(|i| i.version), Some(None));
        assert_eq!(recognise("/usr/bin/perl").map(|i| i.lang), Some(Lang::Perl));
        let rb = recognise("/usr/bin/ruby3.1").expect("ruby");
        assert_eq!(rb.version.as_deref(), Some("3.1"));
        assert_eq!(
            recognise("/usr/bin/nodejs").map(|i| i.lang),
            Some(Lang::Node)
        );
        for not in [
            "/usr/bin/pythonista",
            "/usr/bin/perldoc",
            "/usr/sbin/nginx",
            "/usr/bin/ruby-x",
            "",
        ] {
            assert_eq!(recognise(not), None, "{not}");
        }
    }

    #[test]
    fn python_options_before_the_script() {
        let l = parse(
            Lang::Python,
            &args(&[
                "-u",
                "-W",
                "ignore",
                "-X",
                "dev",
                "-B",
                "/srv/app.py",
                "-m",
                "x",
            ]),
        );
        assert_eq!(l.script.as_deref(), Some("/srv/app.py"));
        assert_eq!(l.module, None);
        let l = parse(Lang::Python, &args(&["-Im", "http.server", "8000"]));
        assert_eq!(
            (l.module.as_deref(), l.script, l.ignore_env, l.safe_path),
            (Some("http.server"), None, true, true)
        );
        let l = parse(Lang::Python, &args(&["-mhttp.server"]));
        assert_eq!(l.module.as_deref(), Some("http.server"));
        let l = parse(Lang::Python, &args(&["-c", "import foo", "script.py"]));
        assert_eq!((l.code, l.script), (vec!["import foo".to_string()], None));
        assert_eq!(parse(Lang::Python, &args(&["-"])).script, None);
    }

    #[test]
    fn perl_ruby_node_options() {
        let l = parse(
            Lang::Perl,
            &args(&[
                "-T",
                "-Ilib",
                "-I",
                "/opt/lib",
                "-MFoo::Bar=baz",
                "-w",
                "app.pl",
                "-I",
                "x",
            ]),
        );
        assert_eq!(l.script.as_deref(), Some("app.pl"));
        assert_eq!(l.include, ["lib", "/opt/lib"]);
        assert_eq!(l.preload, ["Foo::Bar"]);
        assert!(l.ignore_env);
        let l = parse(Lang::Perl, &args(&["-e", "use X;", "-e", "1", "arg"]));
        assert_eq!((l.code.len(), l.script), (2, None));
        let l = parse(
            Lang::Ruby,
            &args(&["-W0", "-rjson", "-I", "lib", "-C", "/srv", "bin/app"]),
        );
        assert_eq!(
            (
                l.script.as_deref(),
                l.preload.as_slice(),
                l.include.as_slice()
            ),
            (
                Some("bin/app"),
                &["json".to_string()][..],
                &["lib".to_string()][..]
            )
        );
        let l = parse(
            Lang::Node,
            &args(&[
                "--max-old-space-size=100",
                "-r",
                "dotenv/config",
                "--import=./reg.mjs",
                "server.js",
                "-r",
            ]),
        );
        assert_eq!(l.script.as_deref(), Some("server.js"));
        assert_eq!(l.preload, ["dotenv/config", "./reg.mjs"]);
        assert_eq!(
            parse(Lang::Node, &args(&["-e", "require('x')", "y.js"])).script,
            None
        );
    }

    #[test]
    fn cmdline_and_environ_are_data() {
        assert_eq!(
            arguments(b"/usr/bin/python3\0-u\0a b.py\0"),
            ["-u", "a b.py"]
        );
        let env = b"A=1\0PYTHONPATH=/x:/y\0PYTHONPATHX=no\0";
        assert_eq!(env_var(env, "PYTHONPATH").as_deref(), Some("/x:/y"));
        assert_eq!(env_var(env, "PERL5LIB"), None);
    }
}
