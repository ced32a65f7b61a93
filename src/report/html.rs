//! `--format html`: the fleet report as one self-contained page, to mail or open from disk.
//!
//! - Self-contained: the CSS and the script are inline (`templates/report.css`,
//!   `templates/report.js`), the charts are SVG drawn here from the data
//!   ([`chart`]); no font, image, script or style is fetched. A Content-Security-Policy
//!   `default-src 'none'` with the SHA-256 of our one style and one script makes any request,
//!   and any other script or style, impossible: injected markup could not run or load
//!   anything even if escaping failed.
//! - Readable with JS off: every table is in the HTML. The script only sorts (click a
//!   header) and filters (a text box per table), and reads the view from the URL fragment
//!   (`#sort=t-hosts:3:desc&filter=t-services:nginx`) so a view can be linked to.
//! - Every host string is escaped, in text and attributes, by the template engine; nothing
//!   from a host reaches the script (it reads the DOM), so no JSON is embedded.
//!
//! Template engine: askama. Its templates are compiled into the binary with the rest of
//! the code (nothing to ship or find at run time), a field the template names that the
//! view lacks is a build error rather than a blank at run time, and `.html` templates are
//! escaped unless a value is marked safe (only our own CSS and script are). minijinja, the
//! other candidate, checks templates only when they render. askama.toml points askama at
//! `templates/` and at [`escape::HtmlText`], which also writes control characters as
//! character references.
//!
//! A local audit goes through [`FleetReport::single_host`], so there is one page layout.

mod chart;
pub(crate) mod escape;
mod view;

use std::io::{self, Write};

use askama::Template;
use data_encoding::BASE64;
use patchgap_probe::Report;
use sha2::{Digest, Sha256};

use super::document::FleetReport;
use super::render::{Render, host_as_fleet};

/// The page's only style sheet, inline.
pub(super) const STYLE: &str = include_str!("templates/report.css");
/// The page's only script, inline: sorting and filtering.
pub(super) const SCRIPT: &str = include_str!("templates/report.js");

/// The HTML renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

/// The page template (`templates/report.html`).
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    view: &'a view::View,
    csp: &'a str,
    style: &'static str,
    script: &'static str,
}

impl Render for Html {
    /// A local audit, as a fleet of one; the run's times are the scan's own.
    fn host(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.fleet(&host_as_fleet(report)?, out)
    }

    fn fleet(&self, report: &FleetReport, out: &mut dyn Write) -> io::Result<()> {
        let view = view::build(report);
        let page = Page {
            view: &view,
            csp: &content_security_policy(),
            style: STYLE,
            script: SCRIPT,
        };
        let html = page.render().map_err(io::Error::other)?;
        out.write_all(html.as_bytes())
    }
}

/// Nothing may load; only our own style and script (by hash) may apply and run.
pub(super) fn content_security_policy() -> String {
    let hash = |text: &str| BASE64.encode(&Sha256::digest(text.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; \
         base-uri 'none'; form-action 'none'",
        hash(STYLE),
        hash(SCRIPT)
    )
}

#[cfg(test)]
mod tests;
