//! `--notify URL`, parsed: a webhook (`https://`, `http://`, `slack+https://`), syslog
//! (`syslog:`, `syslog:/path/to/socket`) or email (`smtp://`, `smtps://`). Every value is
//! checked before any host is contacted: a bad one is the user's to fix (exit 2). A
//! password never comes from the command line (argv is readable by every local user):
//! `user:password@` is refused; the SMTP password comes from an environment variable or a
//! file named in the URL.

use std::path::PathBuf;

use url::Url;

/// The local syslog socket when `syslog:` names none.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// The environment variable the SMTP password is read from when the URL names neither
/// `password_env` nor `password_file`.
pub const DEFAULT_PASSWORD_ENV: &str = "PATCHGAP_SMTP_PASSWORD";

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A JSON POST of the [`Summary`](super::Summary), or Slack's `{"text": ...}`.
    Webhook {
        url: Url,
        slack: bool,
    },
    /// One RFC 5424 line to a local datagram socket.
    Syslog {
        socket: PathBuf,
    },
    Email(Email),
}

/// `smtp://[user@]host[:port]?from=...&to=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte; else STARTTLS, which is required.
    pub implicit_tls: bool,
    pub user: Option<String>,
    pub password: PasswordSource,
    pub from: String,
    pub to: Vec<String>,
    pub html: HtmlPart,
}

/// Where the SMTP password is read from, when there is a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
}

/// How the HTML report travels in the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtmlPart {
    /// `patchgap-report.html`, attached (the default: mail clients strip an inline
    /// page's style and script).
    Attach,
    /// The HTML alternative of the text body.
    Inline,
}

/// A `--notify` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "--notify {0}: not a URL; give https://..., slack+https://..., syslog:[SOCKET] or smtp[s]://..."
    )]
    NotUrl(String),
    #[error(
        "--notify {shown}: unknown scheme `{scheme}`; use https, http, slack+https, syslog, \
         smtp or smtps"
    )]
    Scheme { shown: String, scheme: String },
    #[error(
        "--notify {0}: a password on the command line is readable by every local user; put it \
         in an environment variable or a file (`?password_env=VAR` or `?password_file=FILE`)"
    )]
    PasswordInUrl(String),
    #[error("--notify {shown}: {problem}")]
    Invalid { shown: String, problem: String },
}

impl Channel {
    /// Parses one `--notify` value.
    pub fn parse(value: &str) -> Result<Self, TargetError> {
        if let Some(rest) = value.strip_prefix("syslog:") {
            let socket = match rest.trim_start_matches("//") {
                "" => DEFAULT_SYSLOG_SOCKET,
                path => path,
            };
            return Ok(Channel::Syslog {
                socket: socket.into(),
            });
        }
        let url = Url::parse(value).map_err(|_| TargetError::NotUrl(redact(value)))?;
        let shown = redact(value);
        if url.password().is_some() {
            return Err(TargetError::PasswordInUrl(shown));
        }
        let invalid = |problem: &str| TargetError::Invalid {
            shown: shown.clone(),
            problem: problem.to_string(),
        };
        match url.scheme() {
            "http" | "https" => {
                let slack = url
                    .query_pairs()
                    .any(|(k, v)| k == "format" && v == "slack");
                if url.host_str().is_none() {
                    return Err(invalid("the URL has no host"));
                }
                Ok(Channel::Webhook { url, slack })
            }
            "slack+https" | "slack+http" => {
                let plain = value.strip_prefix("slack+").unwrap_or(value);
                let url = Url::parse(plain).map_err(|_| TargetError::NotUrl(shown.clone()))?;
                Ok(Channel::Webhook { url, slack: true })
            }
            "smtp" | "smtps" => email(&url, &shown).map(Channel::Email),
            scheme => Err(TargetError::Scheme {
                shown,
                scheme: scheme.to_string(),
            }),
        }
    }

    /// The value as shown in messages: the query string (addresses, file names) and any
    /// user name are dropped, so a token in a webhook's path is the only secret left, and
    /// that too is cut to its host.
    pub fn label(&self) -> String {
        match self {
            Channel::Webhook { url, slack } => format!(
                "{}{}://{}",
                if *slack { "slack+" } else { "" },
                url.scheme(),
                url.host_str().unwrap_or_default()
            ),
            Channel::Syslog { socket } => format!("syslog:{}", socket.display()),
            Channel::Email(email) => format!(
                "{}://{}:{}",
                if email.implicit_tls { "smtps" } else { "smtp" },
                email.host,
                email.port
            ),
        }
    }
}

fn email(url: &Url, shown: &str) -> Result<Email, TargetError> {
    let invalid = |problem: String| TargetError::Invalid {
        shown: shown.to_string(),
        problem,
    };
    let implicit_tls = url.scheme() == "smtps";
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL has no mail server".into()))?
        .to_string();
    let mut from = None;
    let mut to = Vec::new();
    let mut html = HtmlPart::Attach;
    let mut password = PasswordSource::Env(DEFAULT_PASSWORD_ENV.into());
    for (key, value) in url.query_pairs() {
        match &*key {
            "from" => from = Some(value.into_owned()),
            "to" => to.extend(value.split(',').map(|a| a.trim().to_string())),
            "html" => {
                html = match &*value {
                    "attach" => HtmlPart::Attach,
                    "inline" => HtmlPart::Inline,
                    other => return Err(invalid(format!("html={other}: use inline or attach"))),
                }
            }
            "password_env" => password = PasswordSource::Env(value.into_owned()),
            "password_file" => password = PasswordSource::File(PathBuf::from(&*value)),
            other => {
                return Err(invalid(format!(
                    "unknown parameter `{other}`; known: from, to, html, password_env, \
                     password_file"
                )));
            }
        }
    }
    let from = from.ok_or_else(|| invalid("give the sender: ?from=ADDRESS".into()))?;
    to.retain(|a| !a.is_empty());
    if to.is_empty() {
        return Err(invalid("give at least one recipient: &to=ADDRESS".into()));
    }
    for address in std::iter::once(&from).chain(&to) {
        address
            .parse::<lettre::Address>()
            .map_err(|e| invalid(format!("`{address}` is not a mail address: {e}")))?;
    }
    let user = match url.username() {
        "" => None,
        user => {
            Some(percent_decode(user).ok_or_else(|| invalid("the user name is not UTF-8".into()))?)
        }
    };
    Ok(Email {
        host,
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
        implicit_tls,
        user,
        password,
        from,
        to,
        html,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("u={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// A value as it may be shown: everything after `?` and any `user:password@` dropped.
fn redact(value: &str) -> String {
    let base = value.split('?').next().unwrap_or_default();
    match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &base[..scheme], &base[at + 1..])
        }
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> Email {
        match Channel::parse(value).expect("valid") {
            Channel::Email(email) => email,
            other => panic!("not email: {other:?}"),
        }
    }

    #[test]
    fn every_scheme_has_its_channel() {
        let hook = Channel::parse("https://hooks.example/T/abc").expect("valid");
        assert!(matches!(hook, Channel::Webhook { slack: false, .. }));
        let slack = Channel::parse("slack+https://hooks.example/T/abc").expect("valid");
        match slack {
            Channel::Webhook { url, slack } => {
                assert!(slack);
                assert_eq!(url.as_str(), "https://hooks.example/T/abc");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Channel::parse("https://chat.example/hooks/x?format=slack"),
            Ok(Channel::Webhook { slack: true, .. })
        ));
        assert_eq!(
            Channel::parse("syslog:"),
            Ok(Channel::Syslog {
                socket: "/dev/log".into()
            })
        );
        assert_eq!(
            Channel::parse("syslog:/run/x.sock"),
            Ok(Channel::Syslog {
                socket: "/run/x.sock".into()
            })
        );
        let mail = email(
            "smtp://ops@mail.example?from=pg@example.org&to=a@example.org,b@example.org&html=inline",
        );
        assert_eq!(mail.port, 587);
        assert!(!mail.implicit_tls);
        assert_eq!(mail.user.as_deref(), Some("ops"));
        assert_eq!(mail.to, ["a@example.org", "b@example.org"]);
        assert_eq!(mail.html, HtmlPart::Inline);
        assert_eq!(
            mail.password,
            PasswordSource::Env(DEFAULT_PASSWORD_ENV.into())
        );
        let tls = email(
            "smtps://mail.example?from=pg@example.org&to=a@example.org&password_file=/etc/pw",
        );
        assert_eq!((tls.port, tls.implicit_tls), (465, true));
        assert_eq!(tls.password, PasswordSource::File("/etc/pw".into()));
    }

    #[test]
    fn a_password_on_the_command_line_is_refused_and_never_shown() {
        let err = Channel::parse("smtp://ops:hunter2@mail.example?from=a@b.c&to=d@e.f")
            .expect_err("refused");
        assert!(matches!(err, TargetError::PasswordInUrl(_)));
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = Channel::parse("https://u:hunter2@hooks.example/x").expect_err("refused");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_values_say_what_to_fix() {
        for (value, hint) in [
            ("ftp://x/y", "unknown scheme"),
            ("nonsense", "not a URL"),
            ("smtp://mail.example?to=a@b.c", "?from="),
            ("smtp://mail.example?from=a@b.c", "&to="),
            (
                "smtp://mail.example?from=a@b.c&to=not-an-address",
                "not a mail address",
            ),
            (
                "smtp://mail.example?from=a@b.c&to=d@e.f&html=pdf",
                "inline or attach",
            ),
            (
                "smtp://mail.example?from=a@b.c&to=d@e.f&pasword_env=X",
                "unknown parameter",
            ),
        ] {
            let err = Channel::parse(value).expect_err(value).to_string();
            assert!(err.contains(hint), "{value}: {err}");
        }
    }

    #[test]
    fn labels_show_no_query_and_no_path() {
        let hook = Channel::parse("https://hooks.example/services/SECRET?x=1").expect("valid");
        assert_eq!(hook.label(), "https://hooks.example");
        let mail = email("smtp://ops@mail.example:2525?from=a@b.c&to=d@e.f");
        assert_eq!(Channel::Email(mail).label(), "smtp://mail.example:2525");
    }
}
