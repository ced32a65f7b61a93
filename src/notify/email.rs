//! `--notify smtp://...`: the summary as a plain-text mail, with the HTML report attached
//! (`patchgap-report.html`) or as the mail's HTML alternative (`&html=inline`), sent with
//! lettre over STARTTLS (required: a server that does not offer it gets nothing) or, for
//! `smtps://`, TLS from the first byte. The server's certificate is checked against the
//! system's roots, plus `--notify-ca` when given.
//!
//! With a user in the URL, the password is read when the mail is sent, from the
//! environment variable or the file the URL names ([`PasswordSource`]), and held in a
//! [`SecretString`] until lettre takes it.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

use super::NotifyError;
use super::summary::Summary;
use super::target::{Email, HtmlPart, PasswordSource};

/// The name of the attached report.
pub const ATTACHMENT_NAME: &str = "patchgap-report.html";

/// Sends the mail of `summary` (and `html`, the rendered report, when there is one).
pub async fn send(
    email: &Email,
    summary: &Summary,
    html: Option<&str>,
    ca: Option<&[u8]>,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let message = message(email, summary, html)?;
    let mut tls = TlsParameters::builder(email.host.clone());
    if let Some(pem) = ca {
        let cert = Certificate::from_pem(pem).map_err(NotifyError::smtp)?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(NotifyError::smtp)?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host)
        .port(email.port)
        .timeout(Some(timeout))
        .tls(if email.implicit_tls {
            Tls::Wrapper(tls)
        } else {
            Tls::Required(tls)
        });
    if let Some(user) = &email.user {
        let password = password(&email.password)?;
        transport = transport.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        ));
    }
    transport
        .build()
        .send(message)
        .await
        .map_err(NotifyError::smtp)?;
    Ok(())
}

/// The mail: the summary as text, the report as the HTML alternative or an attachment.
pub fn message(
    email: &Email,
    summary: &Summary,
    html: Option<&str>,
) -> Result<Message, NotifyError> {
    let mut builder = Message::builder()
        .from(email.from.parse().map_err(NotifyError::smtp)?)
        .subject(summary.title.clone())
        .date_now();
    for to in &email.to {
        builder = builder.to(to.parse().map_err(NotifyError::smtp)?);
    }
    let text = summary
        .lines()
        .iter()
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let message = match (html, email.html) {
        (None, _) => builder.singlepart(SinglePart::plain(text)),
        (Some(html), HtmlPart::Inline) => {
            builder.multipart(MultiPart::alternative_plain_html(text, html.to_string()))
        }
        (Some(html), HtmlPart::Attach) => builder.multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text))
                .singlepart(
                    Attachment::new(ATTACHMENT_NAME.into())
                        .body(html.to_string(), ContentType::TEXT_HTML),
                ),
        ),
    };
    message.map_err(NotifyError::smtp)
}

/// The SMTP password from where the URL says; a missing one names its source.
fn password(source: &PasswordSource) -> Result<SecretString, NotifyError> {
    match source {
        PasswordSource::Env(name) => std::env::var(name).map(SecretString::from).map_err(|_| {
            NotifyError::Password(format!("the environment variable {name} is not set"))
        }),
        PasswordSource::File(path) => std::fs::read_to_string(path)
            .map(|p| SecretString::from(p.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|e| NotifyError::Password(format!("cannot read {}: {e}", path.display()))),
    }
}
