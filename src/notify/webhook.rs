//! `--notify https://...`: the [`Summary`] as a JSON POST (docs/notifications.md), or, for
//! `slack+https://...` and `?format=slack`, the `{"text": ...}` body that Slack and
//! Mattermost incoming webhooks take. Any 2xx is success; anything else is a failure named
//! by its status.

use std::time::Duration;

use url::Url;

use super::NotifyError;
use super::summary::Summary;

/// Longest Slack text sent, in characters (Slack truncates messages past 40 000; a
/// notification is a pointer to the report, not the report).
pub const MAX_SLACK_TEXT: usize = 3000;

/// The HTTP client of every webhook: rustls with the system's roots, plus `ca` (PEM) when
/// given, and `timeout` for the whole exchange.
pub fn client(ca: Option<&[u8]>, timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("patchgap/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(NotifyError::http)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(NotifyError::http)
}

/// Posts `summary` to `url`.
pub async fn send(
    client: &reqwest::Client,
    url: &Url,
    slack: bool,
    summary: &Summary,
) -> Result<(), NotifyError> {
    let request = client.post(url.clone());
    let request = if slack {
        request.json(&serde_json::json!({ "text": slack_text(summary) }))
    } else {
        request.json(summary)
    };
    let response = request.send().await.map_err(NotifyError::http)?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(NotifyError::Status(status.as_u16()))
    }
}

/// The summary's lines for a chat message: `&`, `<`, `>` escaped (Slack's rule; Mattermost
/// shows them as they are), bounded by [`MAX_SLACK_TEXT`].
pub fn slack_text(summary: &Summary) -> String {
    let text = summary.lines().join("\n");
    let mut escaped = String::new();
    for c in text.chars().filter(|c| *c == '\n' || !c.is_control()) {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    if escaped.chars().count() > MAX_SLACK_TEXT {
        escaped = escaped.chars().take(MAX_SLACK_TEXT - 1).collect();
        escaped.push('…');
    }
    escaped
}
