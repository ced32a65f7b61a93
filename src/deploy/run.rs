//! The controller's side of the deploy script: answers its `patchgap:` lines on one exec
//! channel, collects the probe's stdout (capped) and stderr (tail), and turns the whole
//! exchange into a [`HostResult`]. When sudo is refused it runs the probe again as the
//! login user on a second channel (the probe is cached by then) for a partial audit,
//! unless the inventory requires root.
//!
//! Stdin is written by its own future beside the reads ([`feed`]): the probe is larger
//! than an SSH window, and a host that stops reading it (a full disk, a script that
//! failed) must still be heard when it reports the error and closes. Until the probe
//! runs, and while the host still has input to take, a silence of
//! [`DeployOptions::stall_timeout`] in both directions ends the host as a timeout; once
//! the probe runs, it may think quietly until `--host-timeout`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::embedded::{EmbeddedProbe, normalize_arch, unsupported_arch_message};
use super::script::{Escalation, deploy_command};
use crate::deploy::probe_output::{MAX_PROBE_OUTPUT, ProbeReport, parse_probe_output};
use crate::outcome::{Failure, HostResult, Phase};
use crate::transport::{Exec, ExecChannel, ExecEvent};

/// Bytes of the probe's stderr kept for the report.
const STDERR_TAIL: usize = 4096;

/// Longest `patchgap:` line the controller accepts from the deploy script, and all the
/// output it accepts before the probe starts (login scripts may print a banner). A host
/// that sends more is not running the deploy script as written.
const MAX_CONTROL_LINE: usize = 4096;
const MAX_CONTROL_OUTPUT: usize = 64 * 1024;

/// Stdin is written in pieces of this size, so that progress is seen within a window.
const WRITE_CHUNK: usize = 32 * 1024;

/// Default for [`DeployOptions::stall_timeout`]: well under the default `--host-timeout`
/// (120 s), and far above what a slow sudo (PAM, LDAP) or a busy host needs to answer.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The controller's check of untrusted probe output (size, UTF-8, schema).
fn parse_report(stdout: &[u8]) -> Result<ProbeReport, String> {
    parse_probe_output(stdout).map_err(|err| format!("probe output invalid: {err}"))
}

/// How one host wants the probe run, from its inventory entry: who to become and where
/// the probe is cached. Kept apart from the connection settings (the transport's) and
/// from what every host of a run shares ([`DeployOptions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDeploy {
    /// `ansible_become_user`; root unless the inventory says otherwise.
    pub become_user: String,
    /// Whether to try sudo at all when the login user is not root (`patchgap_sudo`).
    pub escalate: bool,
    /// Fail with [`Failure::SudoRefused`] instead of running a partial audit
    /// (`ansible_become`).
    pub become_required: bool,
    /// `patchgap_cache_dir`: where the probe is kept on the host.
    pub cache_dir: Option<String>,
}

impl Default for HostDeploy {
    /// A host the inventory says nothing special about: sudo to root when needed, a
    /// partial audit when sudo is refused, the default cache directory.
    fn default() -> Self {
        HostDeploy {
            become_user: "root".into(),
            escalate: true,
            become_required: false,
            cache_dir: None,
        }
    }
}

/// How to run the probe on one host: what the run shares, and the host's own settings.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The probe binaries that can be uploaded, one per architecture.
    pub probes: &'static [EmbeddedProbe],
    pub probe_args: Vec<String>,
    pub cleanup: bool,
    /// `--ask-become-pass`: sent on stdin to `sudo -S`, and only to a host whose script says
    /// sudo will read it. Zeroized when the last copy is dropped; `Debug` never shows it.
    pub become_password: Option<Arc<SecretString>>,
    /// This host's own settings.
    pub host: HostDeploy,
    /// How long the exchange may go without a byte either way before the probe runs, or
    /// while the host has not taken all its input.
    pub stall_timeout: Duration,
}

impl DeployOptions {
    /// How the host's commands get root when the login user is not root: no sudo
    /// (`patchgap_sudo: false`), `sudo -S` with the `--ask-become-pass` password, or
    /// `sudo -n`. The probe and a campaign's restarts take the same path.
    pub fn escalation(&self) -> Escalation {
        if !self.host.escalate {
            Escalation::None
        } else if self.become_password.is_some() {
            Escalation::SudoPassword
        } else {
            Escalation::SudoNoPassword
        }
    }
}

/// Uploads (if needed) and runs the probe; never fails as `Err`: every problem is a result.
pub async fn deploy_and_run(
    host: &impl Exec,
    options: &DeployOptions,
    mut phase: impl FnMut(Phase),
) -> HostResult {
    let escalation = options.escalation();
    let first = exchange(host, options, escalation, &mut phase).await;
    match first {
        Exchange::Ran { .. } | Exchange::Done(_) => first.into_result(),
        Exchange::SudoRefused { stderr } if options.host.become_required => failed(
            Failure::SudoRefused,
            format!(
                "sudo refused to run the probe as {} and the inventory requires it \
                 (ansible_become); give the user passwordless sudo or pass --ask-become-pass",
                options.host.become_user
            ),
            Some(stderr),
        ),
        Exchange::SudoRefused { .. } => exchange(host, options, Escalation::None, &mut phase)
            .await
            .into_result(),
    }
}

/// How the probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    Status(u32),
    Signal(String),
    /// The channel closed without an exit status: the connection dropped, or sshd could
    /// not say.
    Unknown,
}

enum Exchange {
    /// The probe ran; `privileged` says whether as root.
    Ran {
        privileged: bool,
        ending: Ending,
        stdout: Vec<u8>,
        overflow: bool,
        stderr: String,
    },
    SudoRefused {
        stderr: String,
    },
    Done(HostResult),
}

impl Exchange {
    fn into_result(self) -> HostResult {
        match self {
            Exchange::Done(result) => result,
            Exchange::SudoRefused { stderr } => failed(
                Failure::DeployFailed,
                "the probe did not start".to_string(),
                Some(stderr),
            ),
            Exchange::Ran {
                privileged,
                ending,
                stdout,
                overflow,
                stderr,
            } => {
                match ending {
                    // Stopped by the controller: what was read is over the cap, and
                    // parse_report says so.
                    _ if overflow => {}
                    Ending::Status(0) => {}
                    Ending::Status(126 | 127) => {
                        return failed(
                            Failure::DeployFailed,
                            "the host could not execute the probe (noexec cache directory or \
                             missing loader?)"
                                .to_string(),
                            Some(stderr),
                        );
                    }
                    other => {
                        let how = match other {
                            Ending::Status(status) => match signal_name(status) {
                                Some(signal) => {
                                    format!("was killed by signal {signal} (exit status {status})")
                                }
                                None => format!("exited with status {status}"),
                            },
                            Ending::Signal(signal) => format!("was killed by signal {signal}"),
                            Ending::Unknown => "ended without an exit status (the connection \
                                                was lost, or the probe was killed)"
                                .to_string(),
                        };
                        return failed(
                            Failure::ProbeFailed,
                            format!("the probe {how}"),
                            Some(stderr),
                        );
                    }
                }
                match parse_report(&stdout) {
                    Ok(report) => HostResult::Audited {
                        partial: !privileged,
                        report: Box::new(report),
                    },
                    Err(why) => failed(Failure::ProbeOutputInvalid, why, Some(stderr)),
                }
            }
        }
    }
}

/// The signal behind a shell's exit status 128+N, for the signals that end a process.
fn signal_name(status: u32) -> Option<&'static str> {
    Some(match status.checked_sub(128)? {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        6 => "ABRT",
        7 => "BUS",
        8 => "FPE",
        9 => "KILL",
        11 => "SEGV",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        24 => "XCPU",
        25 => "XFSZ",
        _ => return None,
    })
}

fn failed(failure: Failure, message: String, stderr: Option<String>) -> HostResult {
    HostResult::Failed {
        failure,
        message,
        stderr_tail: stderr.filter(|s| !s.trim().is_empty()),
    }
}

/// What the controller writes on the host's stdin, in order.
enum Input {
    Bytes(Vec<u8>),
    Probe(&'static [u8]),
    Password(Arc<SecretString>),
    Eof,
}

impl Input {
    /// Units of progress [`feed`] reports for this input (EOF counts as one).
    fn size(&self) -> usize {
        match self {
            Input::Bytes(bytes) => bytes.len(),
            Input::Probe(bytes) => bytes.len(),
            Input::Password(secret) => secret.expose_secret().len() + 1,
            Input::Eof => 1,
        }
    }
}

/// Writes every input queued on `inputs` to `stdin`, reporting each piece written on
/// `progress`, until EOF is written or the queue closes.
async fn feed(
    mut stdin: impl AsyncWrite + Unpin,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    progress: mpsc::UnboundedSender<usize>,
) -> std::io::Result<()> {
    async fn write(
        stdin: &mut (impl AsyncWrite + Unpin),
        bytes: &[u8],
        progress: &mpsc::UnboundedSender<usize>,
    ) -> std::io::Result<()> {
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stdin.write_all(chunk).await?;
            stdin.flush().await?;
            let _ = progress.send(chunk.len());
        }
        Ok(())
    }
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Bytes(bytes) => write(&mut stdin, &bytes, &progress).await?,
            Input::Probe(bytes) => write(&mut stdin, bytes, &progress).await?,
            Input::Password(secret) => {
                let line = Zeroizing::new(format!("{}\n", secret.expose_secret()));
                write(&mut stdin, line.as_bytes(), &progress).await?;
            }
            Input::Eof => {
                stdin.shutdown().await?;
                let _ = progress.send(1);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// What one exec channel has said so far.
#[derive(Default)]
struct Heard {
    control: Vec<u8>,
    control_total: usize,
    /// `Some(privileged)` once `patchgap:run` was read: stdout is the probe's from then on.
    ran: Option<bool>,
    stdout: Vec<u8>,
    overflow: bool,
    stderr: Vec<u8>,
    ending: Option<Ending>,
    /// The first reason to stop, from the host's lines or the controller's checks.
    outcome: Option<HostResult>,
}

/// The controller's queue of stdin inputs, and how much of it the host has yet to take.
struct Queue {
    inputs: mpsc::UnboundedSender<Input>,
    outstanding: usize,
}

impl Queue {
    fn push(&mut self, input: Input) {
        self.outstanding += input.size();
        let _ = self.inputs.send(input);
    }
}

/// One exec channel running the deploy script.
async fn exchange(
    host: &impl Exec,
    options: &DeployOptions,
    escalation: Escalation,
    phase: &mut impl FnMut(Phase),
) -> Exchange {
    let deploy = deploy_command(
        options.probes,
        escalation,
        &options.host.become_user,
        options.cleanup,
        options.host.cache_dir.as_deref(),
        &options.probe_args,
    );
    let mut channel = match host.exec(deploy.command).await {
        Ok(channel) => channel,
        Err(message) => return Exchange::Done(failed(Failure::DeployFailed, message, None)),
    };
    let (inputs, queued) = mpsc::unbounded_channel();
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let mut queue = Queue {
        inputs,
        outstanding: 0,
    };
    queue.push(Input::Bytes(deploy.stdin));
    let feeder = feed(channel.stdin(), queued, progress_tx);
    tokio::pin!(feeder);
    let mut feeding = true;
    let mut upload_error: Option<std::io::Error> = None;
    let mut heard = Heard::default();
    let mut closing = false;
    let mut deadline = Instant::now() + options.stall_timeout;
    // Read until the channel ends: an unread channel stalls the whole connection.
    loop {
        let watched = heard.ran.is_none() || queue.outstanding > 0 || closing;
        tokio::select! {
            event = channel.recv() => {
                deadline = Instant::now() + options.stall_timeout;
                let Some(event) = event else { break };
                hear(event, &mut heard, &mut queue, options, phase);
                let stop = heard.outcome.is_some() || heard.overflow;
                if stop && !closing {
                    // Stop sending (the feeder is no longer polled) and end the channel;
                    // what is still in flight is drained.
                    closing = true;
                    feeding = false;
                    channel.close().await;
                }
            }
            Some(written) = progress.recv() => {
                deadline = Instant::now() + options.stall_timeout;
                queue.outstanding = queue.outstanding.saturating_sub(written);
            }
            result = &mut feeder, if feeding => {
                feeding = false;
                if let Err(err) = result {
                    upload_error = Some(err);
                }
            }
            () = tokio::time::sleep_until(deadline), if watched => {
                let doing = if heard.ran.is_none() { "starting the probe" } else { "sending input" };
                let message = format!(
                    "the host stopped responding while {doing}: nothing was sent or received \
                     for {}s (frozen host, full disk or a stuck sudo?)",
                    options.stall_timeout.as_secs()
                );
                heard.outcome.get_or_insert(failed(Failure::Timeout, message, None));
                if !closing {
                    channel.close().await;
                }
                break;
            }
        }
    }
    if heard.outcome.is_none() && heard.ending.is_none() && host.is_closed() {
        let doing = match heard.ran {
            None => "the probe was being deployed",
            Some(_) => "the probe ran",
        };
        heard.outcome = Some(failed(
            Failure::Unreachable,
            format!(
                "the connection to the host was lost while {doing} (the host went down, or \
                 stopped answering SSH keepalives)"
            ),
            None,
        ));
    }
    conclude(heard, escalation, upload_error)
}

/// Takes one event of the channel into account.
fn hear(
    event: ExecEvent,
    heard: &mut Heard,
    queue: &mut Queue,
    options: &DeployOptions,
    phase: &mut impl FnMut(Phase),
) {
    match event {
        // Past the cap, or after a stop: drained until the close takes effect.
        ExecEvent::Stdout(_) if heard.overflow || heard.outcome.is_some() => {}
        ExecEvent::Stdout(data) if heard.ran.is_some() => keep_stdout(heard, &data),
        ExecEvent::Stdout(data) => {
            heard.control_total += data.len();
            heard.control.extend_from_slice(&data);
            while let Some(end) = heard.control.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = heard.control.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                match handle_line(&line, queue, options, phase) {
                    Line::Continue => {}
                    Line::Run(privileged) => {
                        heard.ran = Some(privileged);
                        let rest = std::mem::take(&mut heard.control);
                        keep_stdout(heard, &rest);
                        return;
                    }
                    Line::Stop(result) => {
                        heard.outcome.get_or_insert(result);
                        return;
                    }
                }
            }
            if heard.control.len() > MAX_CONTROL_LINE || heard.control_total > MAX_CONTROL_OUTPUT {
                heard.outcome.get_or_insert(failed(
                    Failure::DeployFailed,
                    format!(
                        "the host sent more than {} bytes before the probe started (or a line \
                         longer than {MAX_CONTROL_LINE}); is a login script printing output, \
                         or is the login shell not running the deploy script?",
                        MAX_CONTROL_OUTPUT
                    ),
                    None,
                ));
            }
        }
        ExecEvent::Stderr(data) => {
            heard.stderr.extend_from_slice(&data);
            if heard.stderr.len() > 2 * STDERR_TAIL {
                heard.stderr.drain(..heard.stderr.len() - STDERR_TAIL);
            }
        }
        ExecEvent::Exited(status) => heard.ending = Some(Ending::Status(status)),
        ExecEvent::Signaled(signal) => heard.ending = Some(Ending::Signal(signal)),
        ExecEvent::Eof => {}
    }
}

/// Appends probe output, keeping one byte past the cap so parse_report reports the size.
fn keep_stdout(heard: &mut Heard, data: &[u8]) {
    let room = MAX_PROBE_OUTPUT + 1 - heard.stdout.len();
    heard
        .stdout
        .extend_from_slice(&data[..data.len().min(room)]);
    if heard.stdout.len() > MAX_PROBE_OUTPUT {
        heard.overflow = true;
    }
}

/// The exchange's result once the channel has ended.
fn conclude(
    heard: Heard,
    escalation: Escalation,
    upload_error: Option<std::io::Error>,
) -> Exchange {
    let tail = &heard.stderr[heard.stderr.len().saturating_sub(STDERR_TAIL)..];
    let stderr = String::from_utf8_lossy(tail).into_owned();
    if let Some(result) = heard.outcome {
        return Exchange::Done(match result {
            HostResult::Failed {
                failure, message, ..
            } => failed(failure, message, Some(stderr)),
            audited => audited,
        });
    }
    match heard.ran {
        Some(privileged) => Exchange::Ran {
            privileged,
            ending: heard.ending.unwrap_or(Ending::Unknown),
            stdout: heard.stdout,
            overflow: heard.overflow,
            stderr,
        },
        None if upload_error.is_some() => Exchange::Done(failed(
            Failure::DeployFailed,
            format!(
                "the upload of the probe failed: {}",
                upload_error.map_or_else(String::new, |err| err.to_string())
            ),
            Some(stderr),
        )),
        None if escalation != Escalation::None => Exchange::SudoRefused { stderr },
        None => Exchange::Done(failed(
            Failure::DeployFailed,
            "the deploy script ended before starting the probe (is /bin/sh missing, or the \
             login shell unable to run commands?)"
                .into(),
            Some(stderr),
        )),
    }
}

enum Line {
    Continue,
    Run(bool),
    Stop(HostResult),
}

/// Answers one `patchgap:` line of the deploy script. Other lines (a login banner) are
/// ignored.
fn handle_line(
    line: &str,
    queue: &mut Queue,
    options: &DeployOptions,
    phase: &mut impl FnMut(Phase),
) -> Line {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let mut words = rest.split(' ');
    let arch = words.next().unwrap_or("");
    let sudo_reads_password = words.next() == Some("password");
    match word {
        "patchgap:need" => {
            phase(Phase::Uploading);
            let Some(probe) = options
                .probes
                .iter()
                .find(|p| p.arch == normalize_arch(arch))
            else {
                return Line::Stop(failed(
                    Failure::UnsupportedArch,
                    unsupported_arch_message(arch),
                    None,
                ));
            };
            queue.push(Input::Probe(probe.bytes));
        }
        "patchgap:have" => {}
        "patchgap:unsupported" => {
            return Line::Stop(failed(
                Failure::UnsupportedArch,
                unsupported_arch_message(rest),
                None,
            ));
        }
        "patchgap:error" => {
            return Line::Stop(failed(Failure::DeployFailed, rest.to_string(), None));
        }
        "patchgap:run" => {
            phase(Phase::Probing);
            return Line::Run(rest == "privileged");
        }
        _ => return Line::Continue,
    }
    // After `need` or `have`: the password if sudo will read it, then EOF.
    if let (true, Some(password)) = (sudo_reads_password, &options.become_password) {
        queue.push(Input::Password(password.clone()));
    }
    queue.push(Input::Eof);
    Line::Continue
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
