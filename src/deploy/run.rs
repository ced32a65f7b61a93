//! The controller's side of the deploy script: answers its `patchgap:` lines on one exec
//! channel, collects the probe's stdout (capped) and stderr (tail), and turns the whole
//! exchange into a [`HostResult`]. When sudo is refused it runs the probe again as the
//! login user on a second channel (the probe is cached by then) for a partial audit,
//! unless the inventory requires root.

use russh::ChannelMsg;

use super::embedded::{embedded_probes, normalize_arch, unsupported_arch_message};
use super::script::{Escalation, deploy_command};
use crate::outcome::{Failure, HostResult, Phase};
use crate::probe_output::{MAX_PROBE_OUTPUT, ProbeReport, parse_probe_output};
use crate::transport::Connection;

/// Bytes of the probe's stderr kept for the report.
const STDERR_TAIL: usize = 4096;

/// Checks the probe's stdout and turns it into a report (a parameter so that tests and
/// other front ends can choose their checks).
pub type Validator = fn(&[u8]) -> Result<ProbeReport, String>;

/// The controller's check of untrusted probe output (size, UTF-8, schema).
pub fn parse_report(stdout: &[u8]) -> Result<ProbeReport, String> {
    parse_probe_output(stdout).map_err(|err| format!("probe output invalid: {err}"))
}

/// How to run the probe on one host.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub probe_args: Vec<String>,
    pub cleanup: bool,
    /// `--ask-become-pass`: sent on stdin to `sudo -S`.
    pub become_password: Option<String>,
    pub become_user: String,
    /// Whether to try sudo at all when the login user is not root (`patchgap_sudo`).
    pub escalate: bool,
    /// Fail with [`Failure::SudoRefused`] instead of running a partial audit.
    pub become_required: bool,
    pub cache_dir: Option<String>,
    pub validate: Validator,
}

/// Uploads (if needed) and runs the probe; never fails as `Err`: every problem is a result.
pub async fn deploy_and_run(
    connection: &Connection,
    options: &DeployOptions,
    mut phase: impl FnMut(Phase),
) -> HostResult {
    let escalation = if !options.escalate {
        Escalation::None
    } else if options.become_password.is_some() {
        Escalation::SudoPassword
    } else {
        Escalation::SudoNoPassword
    };
    let first = exchange(connection, options, escalation, &mut phase).await;
    match first {
        Exchange::Ran { .. } | Exchange::Done(_) => first.into_result(options),
        Exchange::SudoRefused { stderr } if options.become_required => failed(
            Failure::SudoRefused,
            format!(
                "sudo refused to run the probe as {} and the inventory requires it \
                 (ansible_become); give the user passwordless sudo or pass --ask-become-pass",
                options.become_user
            ),
            Some(stderr),
        ),
        Exchange::SudoRefused { .. } => exchange(connection, options, Escalation::None, &mut phase)
            .await
            .into_result(options),
    }
}

enum Exchange {
    /// The probe ran; `privileged` says whether as root.
    Ran {
        privileged: bool,
        status: Option<u32>,
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
    fn into_result(self, options: &DeployOptions) -> HostResult {
        match self {
            Exchange::Done(result) => result,
            Exchange::SudoRefused { stderr } => failed(
                Failure::DeployFailed,
                "the probe did not start".to_string(),
                Some(stderr),
            ),
            Exchange::Ran {
                privileged,
                status,
                stdout,
                overflow,
                stderr,
            } => {
                match status {
                    // Stopped by the controller: what was read is over the cap, and the
                    // validator says so.
                    _ if overflow => {}
                    Some(0) => {}
                    Some(126 | 127) => {
                        return failed(
                            Failure::DeployFailed,
                            "the host could not execute the probe (noexec cache directory or \
                             missing loader?)"
                                .to_string(),
                            Some(stderr),
                        );
                    }
                    other => {
                        let how = other.map_or("was killed".to_string(), |s| {
                            format!("exited with status {s}")
                        });
                        return failed(
                            Failure::ProbeFailed,
                            format!("the probe {how}"),
                            Some(stderr),
                        );
                    }
                }
                match (options.validate)(&stdout) {
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

fn failed(failure: Failure, message: String, stderr: Option<String>) -> HostResult {
    HostResult::Failed {
        failure,
        message,
        stderr_tail: stderr.filter(|s| !s.trim().is_empty()),
    }
}

/// One exec channel running the deploy script.
async fn exchange(
    connection: &Connection,
    options: &DeployOptions,
    escalation: Escalation,
    phase: &mut impl FnMut(Phase),
) -> Exchange {
    let command = deploy_command(
        embedded_probes(),
        escalation,
        &options.become_user,
        options.cleanup,
        options.cache_dir.as_deref(),
        &options.probe_args,
    );
    let mut channel = match connection.handle.channel_open_session().await {
        Ok(channel) => channel,
        Err(err) => {
            let message = format!("cannot open an SSH session channel: {err}");
            return Exchange::Done(failed(Failure::DeployFailed, message, None));
        }
    };
    if let Err(err) = channel.exec(true, command).await {
        let _ = channel.close().await;
        let message = format!("the host refused to run a command: {err}");
        return Exchange::Done(failed(Failure::DeployFailed, message, None));
    }
    let mut control = Vec::new();
    let mut ran: Option<bool> = None;
    let mut stdout = Vec::new();
    let mut overflow = false;
    let mut stderr = Vec::new();
    let mut status = None;
    let mut outcome: Option<HostResult> = None;
    // Always read until the channel ends: an unread channel stalls the connection.
    while let Some(message) = channel.wait().await {
        match message {
            // Past the cap: drained until the close takes effect.
            ChannelMsg::Data { .. } if overflow => {}
            ChannelMsg::Data { data } if ran.is_some() => {
                // One byte past the cap is kept so that the validator reports the size.
                let room = MAX_PROBE_OUTPUT + 1 - stdout.len();
                stdout.extend_from_slice(&data[..data.len().min(room)]);
                if stdout.len() > MAX_PROBE_OUTPUT {
                    overflow = true;
                    let _ = channel.close().await;
                }
            }
            ChannelMsg::Data { data } => {
                control.extend_from_slice(&data);
                while let Some(end) = control.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = control.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line).trim_end().to_string();
                    match handle_line(&line, &channel, options, escalation, phase).await {
                        Line::Continue => {}
                        Line::Run(privileged) => {
                            ran = Some(privileged);
                            stdout.append(&mut control);
                            break;
                        }
                        Line::Stop(result) => outcome = outcome.or(Some(result)),
                    }
                }
            }
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                stderr.extend_from_slice(&data);
                if stderr.len() > 2 * STDERR_TAIL {
                    stderr.drain(..stderr.len() - STDERR_TAIL);
                }
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    let _ = channel.close().await;
    let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL)..];
    let stderr = String::from_utf8_lossy(tail).into_owned();
    if let Some(result) = outcome {
        return Exchange::Done(match result {
            HostResult::Failed {
                failure, message, ..
            } => failed(failure, message, Some(stderr)),
            audited => audited,
        });
    }
    match ran {
        Some(privileged) => Exchange::Ran {
            privileged,
            status,
            stdout,
            overflow,
            stderr,
        },
        None if escalation != Escalation::None => Exchange::SudoRefused { stderr },
        None => Exchange::Done(failed(
            Failure::DeployFailed,
            "the deploy script ended before starting the probe (is /bin/sh missing?)".into(),
            Some(stderr),
        )),
    }
}

enum Line {
    Continue,
    Run(bool),
    Stop(HostResult),
}

async fn handle_line<S>(
    line: &str,
    channel: &russh::Channel<S>,
    options: &DeployOptions,
    escalation: Escalation,
    phase: &mut impl FnMut(Phase),
) -> Line
where
    S: From<(russh::ChannelId, ChannelMsg)> + Send + Sync + 'static,
{
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let sent = match word {
        "patchgap:need" => {
            phase(Phase::Uploading);
            let arch = normalize_arch(rest);
            let Some(probe) = embedded_probes().iter().find(|p| p.arch == arch) else {
                let _ = channel.eof().await;
                return Line::Stop(failed(
                    Failure::UnsupportedArch,
                    unsupported_arch_message(rest),
                    None,
                ));
            };
            send_input(channel, Some(probe.bytes), options, escalation).await
        }
        "patchgap:have" => send_input(channel, None, options, escalation).await,
        "patchgap:unsupported" => {
            let _ = channel.eof().await;
            return Line::Stop(failed(
                Failure::UnsupportedArch,
                unsupported_arch_message(rest),
                None,
            ));
        }
        "patchgap:error" => {
            let _ = channel.eof().await;
            return Line::Stop(failed(Failure::DeployFailed, rest.to_string(), None));
        }
        "patchgap:run" => {
            phase(Phase::Probing);
            return Line::Run(rest == "privileged");
        }
        _ => Ok(()),
    };
    match sent {
        Ok(()) => Line::Continue,
        Err(err) => Line::Stop(failed(
            Failure::DeployFailed,
            format!("the upload of the probe failed: {err}"),
            None,
        )),
    }
}

/// The probe (when asked for), the sudo password (when sudo will read it), then EOF.
async fn send_input<S>(
    channel: &russh::Channel<S>,
    probe: Option<&'static [u8]>,
    options: &DeployOptions,
    escalation: Escalation,
) -> Result<(), russh::Error>
where
    S: From<(russh::ChannelId, ChannelMsg)> + Send + Sync + 'static,
{
    if let Some(bytes) = probe {
        channel.data_bytes(bytes).await?;
    }
    if let (Escalation::SudoPassword, Some(password)) = (escalation, &options.become_password) {
        channel
            .data_bytes(format!("{password}\n").into_bytes())
            .await?;
    }
    channel.eof().await
}
