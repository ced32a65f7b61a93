//! Public-key authentication: the ssh-agent's keys first, then key files. A key file is
//! read and decrypted once per run and shared by every host: decrypting costs about 190 ms,
//! and a passphrase must be asked for only once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, decode_secret_key};
use tokio::sync::OnceCell;

/// Asks a person for the passphrase of a key file; `None` when nobody can answer (no
/// terminal) or they gave up. Called from a blocking thread, never concurrently.
pub type PassphrasePrompt = Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// Keys shared by all the hosts of a run.
pub struct Credentials {
    use_agent: bool,
    prompt: Option<PassphrasePrompt>,
    keys: Mutex<HashMap<PathBuf, Arc<OnceCell<LoadedKey>>>>,
    /// One prompt on the terminal at a time.
    prompting: tokio::sync::Mutex<()>,
}

type LoadedKey = Result<Arc<PrivateKey>, String>;

/// Passphrase attempts per key, as OpenSSH allows.
const PASSPHRASE_ATTEMPTS: usize = 3;

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("use_agent", &self.use_agent)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `use_agent`: whether to ask the agent at `SSH_AUTH_SOCK`.
    pub fn new(use_agent: bool, prompt: Option<PassphrasePrompt>) -> Self {
        Self {
            use_agent,
            prompt,
            keys: Mutex::new(HashMap::new()),
            prompting: tokio::sync::Mutex::new(()),
        }
    }

    /// Tries the agent's keys, then each existing key file, as `user`. On failure, says
    /// what was tried.
    pub async fn authenticate<H: russh::client::Handler>(
        &self,
        handle: &mut Handle<H>,
        user: &str,
        key_files: &[PathBuf],
    ) -> Result<(), String> {
        let mut tried = Vec::new();
        let mut rsa_hash: Option<Option<HashAlg>> = None;
        if self.use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
            match AgentClient::connect_env().await {
                Ok(mut agent) => {
                    let identities = agent.request_identities().await.unwrap_or_default();
                    for identity in identities {
                        let AgentIdentity::PublicKey { key, .. } = identity else {
                            continue;
                        };
                        let hash = hash_for(handle, &key.algorithm(), &mut rsa_hash).await;
                        let result = handle
                            .authenticate_publickey_with(user, key, hash, &mut agent)
                            .await;
                        if matches!(result, Ok(ref r) if r.success()) {
                            return Ok(());
                        }
                    }
                    tried.push("the ssh-agent's keys".to_string());
                }
                Err(err) => tried.push(format!("the ssh-agent (unreachable: {err})")),
            }
        }
        for file in key_files.iter().filter(|file| file.is_file()) {
            let key = match self.key(file).await {
                Ok(key) => key,
                Err(why) => {
                    tried.push(why);
                    continue;
                }
            };
            let hash = hash_for(handle, &key.algorithm(), &mut rsa_hash).await;
            let result = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(|err| format!("the connection failed during authentication: {err}"))?;
            if result.success() {
                return Ok(());
            }
            tried.push(file.display().to_string());
        }
        if tried.is_empty() {
            return Err(format!(
                "no ssh-agent (SSH_AUTH_SOCK is not set) and no key file found; \
                 pass --private-key FILE or set ansible_ssh_private_key_file (user {user})"
            ));
        }
        Err(format!(
            "the server refused user {user} with {}; check authorized_keys on the host, \
             the user, or pass --private-key",
            tried.join(", ")
        ))
    }

    /// The decrypted key of `file`, loaded once for the whole run.
    async fn key(&self, file: &Path) -> LoadedKey {
        let cell = {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.entry(file.to_path_buf()).or_default().clone()
        };
        cell.get_or_init(|| self.load(file)).await.clone()
    }

    async fn load(&self, file: &Path) -> LoadedKey {
        let text = std::fs::read_to_string(file)
            .map_err(|err| format!("{} (unreadable: {err})", file.display()))?;
        match decode_secret_key(&text, None) {
            Ok(key) => return Ok(Arc::new(key)),
            Err(russh::keys::Error::KeyIsEncrypted) => {}
            Err(err) => return Err(format!("{} (not a usable key: {err})", file.display())),
        }
        let Some(prompt) = self.prompt.clone() else {
            return Err(format!(
                "{} (encrypted, and no terminal to ask for its passphrase; add it to \
                 ssh-agent)",
                file.display()
            ));
        };
        let _one_prompt_at_a_time = self.prompting.lock().await;
        for _ in 0..PASSPHRASE_ATTEMPTS {
            let (prompt, path, text) = (prompt.clone(), file.to_path_buf(), text.clone());
            let decrypted = tokio::task::spawn_blocking(move || {
                let passphrase = prompt(&path)?;
                Some(decode_secret_key(&text, Some(&passphrase)))
            })
            .await
            .ok()
            .flatten();
            match decrypted {
                Some(Ok(key)) => return Ok(Arc::new(key)),
                Some(Err(_)) => continue,
                None => break,
            }
        }
        Err(format!("{} (no valid passphrase given)", file.display()))
    }
}

/// The signature hash to use with a key: only RSA keys need one, and asking the server
/// for it can take up to a second, so it is asked once per connection and only for RSA.
async fn hash_for<H: russh::client::Handler>(
    handle: &Handle<H>,
    algorithm: &Algorithm,
    cached: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if !matches!(algorithm, Algorithm::Rsa { .. }) {
        return None;
    }
    if cached.is_none() {
        let best = handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        *cached = Some(best);
    }
    cached.flatten()
}
