//! `patchgap man`: the manual pages, generated at run time from the clap definitions in
//! `cli.rs` (clap_mangen), so a new subcommand gets its page with no change here. One page
//! per command: `patchgap.1`, and `patchgap-COMMAND.1` for each subcommand. The Debian
//! package ships them (`.ci/build-deb` runs `patchgap man --dir`).
//!
//! clap_mangen would fill each `after_help` (the examples) into one paragraph; each page
//! gets an EXAMPLES section instead, one example per paragraph with its command unfilled.

use std::io;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use roff::{Roff, bold, roman};

use crate::cli::{Cli, ManArgs};
use crate::exit::{UsageError, Verdict};
use crate::report::Sink;

/// One manual page: its file name (`patchgap-audit.1`) and roff source.
#[derive(Debug, Clone)]
pub struct Page {
    pub file_name: String,
    pub roff: Vec<u8>,
    /// The command it documents, as typed after `patchgap` (empty for `patchgap.1`).
    pub command: String,
}

/// Runs `patchgap man`.
pub fn run(args: &ManArgs) -> anyhow::Result<Verdict> {
    let pages = pages().context("cannot render the manual pages")?;
    if let Some(dir) = &args.dir {
        write_pages(&pages, dir)?;
        return Ok(Verdict::default());
    }
    let wanted = args.command.as_deref().unwrap_or("");
    let page = pages.iter().find(|p| p.command == wanted).ok_or_else(|| {
        let known: Vec<&str> = pages
            .iter()
            .map(|p| p.command.as_str())
            .filter(|c| !c.is_empty())
            .collect();
        UsageError(format!(
            "no manual page for `{wanted}`; the commands are {}",
            known.join(", ")
        ))
    })?;
    Sink::Stdout.write(|out| out.write_all(&page.roff))?;
    Ok(Verdict::default())
}

/// Every page, the top-level one first, then each visible subcommand's (depth first).
pub fn pages() -> io::Result<Vec<Page>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, "", &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, path: &str, pages: &mut Vec<Page>) -> io::Result<()> {
    pages.push(page(cmd, path)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_path = if path.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{path} {}", sub.get_name())
        };
        collect(sub, &sub_path, pages)?;
    }
    Ok(())
}

/// One command's page: clap_mangen's sections, with EXAMPLES before VERSION.
fn page(cmd: &clap::Command, path: &str) -> io::Result<Page> {
    let examples = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(ToString::to_string);
    let bare = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(bare).source(format!(
        "patchgap {}",
        cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))
    ));
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut roff)?;
    }
    if let Some(examples) = examples {
        roff.extend_from_slice(examples_section(&examples).as_bytes());
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut roff)?;
    }
    Ok(Page {
        file_name: man.get_filename(),
        roff,
        command: path.to_string(),
    })
}

/// The EXAMPLES section from `after_help` text: `# comment` lines become a paragraph, the
/// command lines under them an indented, unfilled block in bold. The `Examples:` heading
/// line is the section's title.
fn examples_section(text: &str) -> String {
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    let mut in_block = false;
    let mut first = true;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.ends_with(':') && !line.starts_with('#') {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if in_block {
                roff.control("fi", []).control("RE", []);
                in_block = false;
            }
            // The section heading already starts a paragraph.
            if !first {
                roff.control("PP", []);
            }
            first = false;
            roff.text([roman(comment.trim())]);
        } else {
            if !in_block {
                roff.control("RS", ["4"]).control("nf", []);
                in_block = true;
            }
            roff.text([bold(line)]);
        }
    }
    if in_block {
        roff.control("fi", []).control("RE", []);
    }
    roff.to_roff()
}

/// Writes every page into `dir`, creating it.
fn write_pages(pages: &[Page], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}; give a writable --dir", dir.display()))?;
    for page in pages {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, &page.roff)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_subcommand_has_a_page_named_after_it() {
        let pages = pages().expect("rendered");
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(names[0], "patchgap.1");
        let cmd = Cli::command();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let expected = format!("patchgap-{}.1", sub.get_name());
            assert!(
                names.contains(&expected.as_str()),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.contains(&"patchgap-help.1"), "{names:?}");
    }

    #[test]
    fn examples_are_a_section_of_unfilled_commands() {
        let roff = examples_section("Examples:\n  # Audit\n  patchgap audit\n  # Two\n  a\n  b");
        assert_eq!(
            roff,
            ".SH EXAMPLES\nAudit\n.RS 4\n.nf\n\\fBpatchgap audit\\fR\n.fi\n.RE\n\
             .PP\nTwo\n.RS 4\n.nf\n\\fBa\\fR\n\\fBb\\fR\n.fi\n.RE\n"
        );
    }
}
