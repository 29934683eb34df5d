//! How a source reaches its remote: the transport for each scheme (our socket for git://,
//! gix's smart HTTP over ureq, the system's ssh pinned to a key and known_hosts, `git
//! upload-pack` for file://), the credentials it presents, and the words a failure gets.

use super::*;

impl GitSource {
    /// The `Authorization` header for http(s) sources.
    pub(super) fn authorization(&self) -> Result<Option<String>, SourceError> {
        let name = self.settings.name.clone();
        let read = |path: &Path| {
            read_secret(path).map_err(|cause| SourceError::Credentials {
                name: name.clone(),
                path: path.to_owned(),
                cause,
            })
        };
        let basic = |user: &str, password: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        Ok(match &self.settings.auth {
            Some(Auth::Basic {
                username,
                password_file,
            }) => {
                let user = match username {
                    Username::Literal(u) => u.clone(),
                    Username::File(f) => read(f)?,
                };
                Some(basic(&user, &read(password_file)?))
            }
            Some(Auth::Token { token_file }) => Some(basic("git", &read(token_file)?)),
            Some(Auth::Bearer { token_file }) => Some(format!("Bearer {}", read(token_file)?)),
            _ => None,
        })
    }

    /// A connection to the remote, for the URL's transport, with timeouts.
    pub(super) fn transport(&self) -> Result<Box<dyn Transport + Send>, SourceError> {
        use gix_transport::client::blocking_io as io;
        use gix_transport::Protocol;
        let settings = &self.settings;
        let url = gix::url::parse(settings.url.as_bytes().as_bstr())
            .map_err(|e| self.unreachable(format!("not a Git URL: {e}")))?;
        let scheme = Scheme::of(&settings.url).map_err(|e| self.unreachable(e))?;
        let timeout = settings.timeout;
        Ok(match scheme {
            Scheme::Https | Scheme::Http => {
                let ca = match &settings.ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        self.unreachable(format!("cannot read caFile '{}': {e}", path.display()))
                    })?),
                    None => None,
                };
                let mut http = http::UreqHttp::new(
                    ca.as_deref(),
                    timeout,
                    &self.user_agent,
                    self.authorization()?,
                )
                .map_err(|e| self.unreachable(format!("caFile: {e}")))?;
                if let Some(deadline) = self.deadline {
                    http = http.with_deadline(deadline);
                }
                Box::new(io::http::connect_http(http, url, Protocol::V2, false))
            }
            Scheme::Git => {
                // Our own socket: gix's git:// connection has no read timeout.
                let host = url.host().unwrap_or("localhost").to_owned();
                let port = url.port.unwrap_or(9418);
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map_err(|e| self.unreachable(e))?
                    .next()
                    .ok_or_else(|| self.unreachable(format!("{host} has no address")))?;
                let socket = std::net::TcpStream::connect_timeout(&addr, timeout)
                    .map_err(|e| self.unreachable(e))?;
                let deadline = self
                    .deadline
                    .unwrap_or_else(|| Deadline::after(settings.fetch_timeout));
                let socket = DeadlineStream::new(socket, deadline, timeout);
                let write = socket.try_clone().map_err(|e| self.unreachable(e))?;
                Box::new(gix_transport::client::git::blocking_io::Connection::new(
                    socket,
                    write,
                    Protocol::V2,
                    url.path.clone(),
                    Some((host, Some(port))),
                    gix_transport::client::git::ConnectMode::Daemon,
                    false,
                ))
            }
            Scheme::Ssh => {
                let command = self.ssh_command()?;
                let options = io::ssh::connect::Options {
                    command: Some(command.into()),
                    disallow_shell: false,
                    kind: Some(io::ssh::ProgramKind::Ssh),
                };
                Box::new(
                    io::ssh::connect(url, Protocol::V2, options, false)
                        .map_err(|e| self.unreachable(e))?,
                )
            }
            Scheme::File => local::connect(Path::new(
                url.path.to_os_str().map_err(|e| self.unreachable(e))?,
            ))
            .map_err(|e| self.unreachable(e))?,
        })
    }

    /// The ssh command line (gix appends the port, host and remote command).
    pub(super) fn ssh_command(&self) -> Result<String, SourceError> {
        let settings = &self.settings;
        let secs = settings.timeout.as_secs().max(1);
        // ssh has no deadline of its own over a whole session: a server pacing its bytes
        // keeps it alive. coreutils' timeout ends it at fetchTimeout.
        let limit = match self.deadline {
            Some(deadline) => format!(
                "timeout -s KILL {}s ",
                deadline.remaining().as_secs_f64().ceil().max(1.0) as u64
            ),
            None => String::new(),
        };
        let mut command = format!(
            "{limit}ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout={secs} -o ServerAliveInterval={secs} -o ServerAliveCountMax=2 -o StrictHostKeyChecking=yes"
        );
        match &settings.auth {
            Some(Auth::Ssh {
                key_file,
                known_hosts_file,
            }) => {
                read_secret(key_file).map_err(|cause| SourceError::Credentials {
                    name: settings.name.clone(),
                    path: key_file.clone(),
                    cause,
                })?;
                command.push_str(&format!(
                    " -o IdentitiesOnly=yes -i {} -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                    shell_quote(key_file),
                    shell_quote(known_hosts_file)
                ));
            }
            _ => command.push_str(" -o UserKnownHostsFile=/dev/null"),
        }
        Ok(command)
    }

    /// Classifies a failed network step.
    pub(super) fn network_error(&self, err: &gix::Error, interrupted: bool) -> SourceError {
        let name = self.settings.name.clone();
        let url = http::redact(&self.settings.url);
        if self.deadline.is_some_and(|d| d.passed()) {
            return SourceError::FetchTimedOut {
                name,
                url,
                secs: self.settings.fetch_timeout.as_secs(),
            };
        }
        if interrupted {
            return SourceError::TooBig {
                name,
                url,
                git_ref: self.settings.git_ref.to_string(),
                limit: self.settings.max_fetch_size,
            };
        }
        // http::to_io hands ureq's I/O errors to gix bare, so a TLS failure
        // arrives as the rustls::Error inside an io::Error, not as a ureq::Error.
        if let Some(tls) = err
            .downcast_any_ref::<ureq::Error>()
            .and_then(crate::tls::rustls_error)
            .or_else(|| err.downcast_any_ref::<rustls::Error>())
        {
            let ca = match &self.settings.ca_file {
                Some(path) => format!("caFile '{}'", path.display()),
                None => "the public roots (set caFile for a private CA)".into(),
            };
            return SourceError::Unreachable {
                name,
                url,
                cause: format!("TLS failed: {}", crate::tls::describe(tls, &ca)),
            };
        }
        let text = chain(err);
        let denied = err.classify().is_unauthenticated()
            || text.contains("Permission denied")
            || text.contains("AuthenticationRequired")
            || text.contains("authentication required");
        if denied {
            let cause = match &self.settings.auth {
                None if without_credentials(&self.settings.url) != self.settings.url => {
                    "the server refused the credentials in the URL".to_owned()
                }
                None => "the server wants credentials: give the source an auth".to_owned(),
                // gix's own words here speak of credential helpers, which plumb never runs.
                Some(Auth::Ssh { .. }) => format!("the server rejected the deploy key ({text})"),
                Some(_) => "the server rejected the credentials (HTTP 401): check the auth files"
                    .to_owned(),
            };
            return SourceError::Unauthorized { name, url, cause };
        }
        if text.contains("Host key verification failed")
            || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            return SourceError::Unauthorized {
                name,
                url,
                cause: format!("the server's ssh host key is not the one in knownHostsFile: refusing to connect ({text})"),
            };
        }
        // ssh tells of a refused host key only on its stderr, which gix copies
        // to ours instead of into the error (it turns only "Permission denied"
        // and failed connections into errors; this one reads "failed to fill
        // whole buffer"). So ask ssh once more, authenticating with nothing.
        if Scheme::of(&self.settings.url) == Ok(Scheme::Ssh)
            && !text.contains("connect to host")
            && !text.contains("resolve hostname")
        {
            if let Some(verdict) = self.ssh_host_key_refusal() {
                return SourceError::Unauthorized {
                    name,
                    url,
                    cause: format!("the server's ssh host key is not the one in knownHostsFile: refusing to connect ({verdict})"),
                };
            }
        }
        // A socket read past its timeout surfaces as EAGAIN ("Resource
        // temporarily unavailable"), which names neither the wait nor the step.
        let cause =
            if text.contains("os error 11") || text.contains("Resource temporarily unavailable") {
                format!(
                    "timed out: the server sent nothing for {}s (the source's timeout) ({text})",
                    self.settings.timeout.as_secs()
                )
            } else {
                text
            };
        SourceError::Unreachable { name, url, cause }
    }

    /// Connects to an ssh source without authenticating, to learn whether ssh
    /// refuses the server's host key; returns what ssh said about it.
    pub(super) fn ssh_host_key_refusal(&self) -> Option<String> {
        use std::process::Stdio;
        let url = gix::url::parse(self.settings.url.as_bytes().as_bstr()).ok()?;
        let host = url.host_argument_safe()?;
        let target = match url.user() {
            Some(_) => format!("{}@{host}", url.user_argument_safe()?),
            None => host.to_owned(),
        };
        let script = format!(
            "{} -T -o PreferredAuthentications=none \"$@\"",
            self.ssh_command().ok()?
        );
        let mut probe = std::process::Command::new("sh");
        probe.arg("-c").arg(script).arg("ssh");
        if let Some(port) = url.port {
            probe.arg("-p").arg(port.to_string());
        }
        let out = probe
            .arg("--")
            .arg(target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .ok()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("Host key verification failed") {
            return None;
        }
        let said: Vec<&str> = stderr
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '@' || c.is_whitespace()))
            .filter(|l| {
                [
                    "IDENTIFICATION HAS CHANGED",
                    "Host key for",
                    "host key is known",
                    "Host key verification failed",
                ]
                .iter()
                .any(|s| l.contains(s))
            })
            .collect();
        Some(said.join(" "))
    }
}

/// Reads a secret file: it must be readable by its owner only, as ssh demands of keys.
pub fn read_secret(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:04o} lets others read it: make it readable by plumb's user only (chmod 600)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.trim_end_matches(['\n', '\r']).to_owned();
    if text.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(text)
}

/// Quotes a path for the shell that runs `core.sshCommand`.
pub(super) fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}
