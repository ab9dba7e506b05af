//! Loading like kubectl: choosing the files (`--kubeconfig`, else `KUBECONFIG`, else
//! `~/.kube/config`), reading them bounded, merging first-wins and resolving relative paths
//! against the defining file.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::KubeconfigError;
use super::file::{AuthInfo, Cluster, Context, FileConfig, Kubeconfig, Named};
use crate::files::MAX_FILE_BYTES;
use crate::secret::Secret;

/// Where the kubeconfig comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// `--kubeconfig`: only this file, which must exist.
    Explicit(PathBuf),
    /// `KUBECONFIG`: these files, deduplicated, empty entries dropped; missing ones skipped.
    EnvList(Vec<PathBuf>),
    /// `~/.kube/config`.
    Default(PathBuf),
}

impl KubeconfigSource {
    /// Chooses the source like kubectl, from the process environment.
    pub fn from_env(explicit: Option<&Path>) -> Result<Self, KubeconfigError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::choose(
            explicit,
            std::env::var_os("KUBECONFIG").as_deref(),
            home.as_deref(),
        )
    }

    /// Chooses the source from explicit inputs (testable without touching the environment).
    pub fn choose(
        explicit: Option<&Path>,
        kubeconfig_env: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Result<Self, KubeconfigError> {
        if let Some(path) = explicit {
            return Ok(Self::Explicit(path.to_path_buf()));
        }
        if let Some(list) = kubeconfig_env.filter(|v| !v.is_empty()) {
            let mut paths: Vec<PathBuf> = Vec::new();
            for entry in std::env::split_paths(list) {
                if entry.as_os_str().is_empty() || paths.contains(&entry) {
                    continue;
                }
                paths.push(entry);
            }
            if !paths.is_empty() {
                return Ok(Self::EnvList(paths));
            }
        }
        match home {
            Some(home) => Ok(Self::Default(home.join(".kube").join("config"))),
            None => Err(KubeconfigError::NotFound {
                detail: "no --kubeconfig, no KUBECONFIG and no HOME to find ~/.kube/config".into(),
            }),
        }
    }

    /// Reads and merges the files.
    pub fn load(&self) -> Result<Kubeconfig, KubeconfigError> {
        match self {
            Self::Explicit(path) => {
                if !path.exists() {
                    return Err(KubeconfigError::ExplicitMissing { path: path.clone() });
                }
                Kubeconfig::merge_files(std::slice::from_ref(path))
            }
            Self::EnvList(paths) => {
                let existing: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
                if existing.is_empty() {
                    let names: Vec<String> =
                        paths.iter().map(|p| p.display().to_string()).collect();
                    return Err(KubeconfigError::NotFound {
                        detail: format!(
                            "none of the files in KUBECONFIG exists ({})",
                            names.join(", ")
                        ),
                    });
                }
                Kubeconfig::merge_files(&existing)
            }
            Self::Default(path) => {
                if !path.exists() {
                    return Err(KubeconfigError::NotFound {
                        detail: format!(
                            "{} does not exist and neither --kubeconfig nor KUBECONFIG is set",
                            path.display()
                        ),
                    });
                }
                Kubeconfig::merge_files(std::slice::from_ref(path))
            }
        }
    }
}

/// Parses one kubeconfig document (YAML or JSON).
fn parse(text: &str, path: &Path) -> Result<FileConfig, KubeconfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    // The project's bounded YAML reader; kubeconfigs hold tokens and keys, so parse errors
    // never quote the file (Snippets::Hide).
    kcsr_core::yaml::parse_one::<Option<FileConfig>>(
        text.as_bytes(),
        kcsr_core::yaml::Snippets::Hide,
    )
    .map(Option::unwrap_or_default)
    .map_err(|e| KubeconfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn resolve_path(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p.as_mut()
        && path.is_relative()
        && !path.as_os_str().is_empty()
    {
        *path = dir.join(&*path);
    }
}

fn blank_to_none(s: &mut Option<String>) {
    if s.as_deref().is_some_and(str::is_empty) {
        *s = None;
    }
}

fn blank_path_to_none(p: &mut Option<PathBuf>) {
    if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        *p = None;
    }
}

fn blank_secret_to_none(s: &mut Option<Secret>) {
    if s.as_ref().is_some_and(Secret::is_empty) {
        *s = None;
    }
}

impl Cluster {
    fn normalize(&mut self, dir: &Path) {
        blank_to_none(&mut self.server);
        blank_to_none(&mut self.tls_server_name);
        blank_to_none(&mut self.certificate_authority_data);
        blank_to_none(&mut self.proxy_url);
        blank_path_to_none(&mut self.certificate_authority);
        resolve_path(dir, &mut self.certificate_authority);
    }
}

impl AuthInfo {
    fn normalize(&mut self, dir: &Path) {
        blank_path_to_none(&mut self.client_certificate);
        blank_path_to_none(&mut self.client_key);
        blank_path_to_none(&mut self.token_file);
        blank_to_none(&mut self.client_certificate_data);
        blank_secret_to_none(&mut self.client_key_data);
        blank_secret_to_none(&mut self.token);
        blank_to_none(&mut self.username);
        blank_secret_to_none(&mut self.password);
        resolve_path(dir, &mut self.client_certificate);
        resolve_path(dir, &mut self.client_key);
        resolve_path(dir, &mut self.token_file);
        if let Some(exec) = self.exec.as_mut() {
            // Only a command with a path separator is relative to the file; a bare name is
            // looked up on PATH (client-go `ResolveLocalPaths`).
            if exec.command.contains('/') && Path::new(&exec.command).is_relative() {
                exec.command = dir.join(&exec.command).to_string_lossy().into_owned();
            }
        }
    }
}

impl Kubeconfig {
    /// Parses one kubeconfig from text; relative paths resolve against `path`'s directory.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, KubeconfigError> {
        let mut config = Self::default();
        config.merge_text(text, path)?;
        Ok(config)
    }

    /// Reads and merges files in order, first definition of each name winning.
    pub fn merge_files(paths: &[PathBuf]) -> Result<Self, KubeconfigError> {
        let mut config = Self::default();
        for path in paths {
            let data = kcsr_fs::read_limited_following(path, MAX_FILE_BYTES).map_err(|source| {
                KubeconfigError::Read {
                    path: path.clone(),
                    source,
                }
            })?;
            let data = Zeroizing::new(data);
            let text = std::str::from_utf8(&data).map_err(|_| KubeconfigError::Parse {
                path: path.clone(),
                message: "the file is not UTF-8 text".into(),
            })?;
            config.merge_text(text, path)?;
        }
        Ok(config)
    }

    fn merge_text(&mut self, text: &str, path: &Path) -> Result<(), KubeconfigError> {
        let file = parse(text, path)?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        self.files.push(absolute.clone());
        for entry in file.clusters.unwrap_or_default() {
            let mut value = entry.cluster.unwrap_or_default();
            value.normalize(&dir);
            insert_first(&mut self.clusters, entry.name, value, &absolute);
        }
        for entry in file.users.unwrap_or_default() {
            let mut value = entry.cluster.unwrap_or_default();
            value.normalize(&dir);
            insert_first(&mut self.users, entry.name, value, &absolute);
        }
        for entry in file.contexts.unwrap_or_default() {
            let value = entry.cluster.unwrap_or_default();
            insert_first(&mut self.contexts, entry.name, value, &absolute);
        }
        if self.current_context.is_none() {
            self.current_context = file.current_context.filter(|c| !c.is_empty());
        }
        Ok(())
    }

    /// Looks up a context by name.
    pub fn context(&self, name: &str) -> Option<&Named<Context>> {
        self.contexts.iter().find(|c| c.name == name)
    }
}

fn insert_first<T>(entries: &mut Vec<Named<T>>, name: String, value: T, origin: &Path) {
    if entries.iter().any(|e| e.name == name) {
        return;
    }
    entries.push(Named {
        name,
        value,
        origin: origin.to_path_buf(),
    });
}
