//! gix's smart-HTTP over ureq: the same HTTP stack as our Kubernetes client,
//! instead of gix's reqwest backend (which would double the binary's size).
//!
//! gix drives the exchange through readers: it writes a POST body, drops it,
//! then reads the headers and the body. So the request goes out lazily on the
//! first read, and every HTTP outcome (a 401 included) reaches gix as an
//! `io::Error` from the headers reader, the only path on which gix
//! recognises "authentication required".

use std::io::{self, BufRead, Cursor, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix_transport::client::blocking_io::http::{
    self as ghttp, GetResponse, PostBodyDataKind, PostResponse,
};
use gix_transport::client::AuthenticationRequired;

use super::deadline::Deadline;

/// A ureq-backed implementation of gix's HTTP trait.
#[derive(Clone)]
pub struct UreqHttp {
    agent: ureq::Agent,
    /// `Authorization` and the like, added to every request.
    headers: Vec<(String, String)>,
    /// The poll's deadline: each request, its body read to the end, must end before it.
    deadline: Option<Deadline>,
}

impl UreqHttp {
    /// A backend trusting `ca` (PEM; `None` uses the public roots), with
    /// `timeout` on connecting and on each response, and `authorization` sent
    /// with every request.
    pub fn new(
        ca: Option<&[u8]>,
        timeout: Duration,
        user_agent: &str,
        authorization: Option<String>,
    ) -> Result<UreqHttp, String> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = ca {
            let certs = crate::tls::parse_certs(pem)?;
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            // gix must learn of a redirect to move its base URL; refuse them instead of following silently.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .user_agent(user_agent)
            // ureq's defaults allocate 0.5 MiB per connection; packs stream
            // through gix, so small buffers cost no round trips.
            .input_buffer_size(16 << 10)
            .output_buffer_size(16 << 10)
            .build()
            .into();
        let headers = authorization
            .map(|a| vec![("Authorization".to_owned(), a)])
            .unwrap_or_default();
        Ok(UreqHttp {
            agent,
            headers,
            deadline: None,
        })
    }

    /// The same backend, every request ending by `deadline`.
    pub fn with_deadline(self, deadline: Deadline) -> UreqHttp {
        UreqHttp {
            deadline: Some(deadline),
            ..self
        }
    }

    fn exchange(
        &self,
        method: &'static str,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        body: Option<Arc<Mutex<Vec<u8>>>>,
    ) -> Arc<Mutex<Exchange>> {
        let mut all: Vec<(String, String)> = headers
            .into_iter()
            .filter_map(|line| {
                line.as_ref()
                    .split_once(':')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            })
            // Ours (plumb/<version> (<node>)) instead of gix's, so that a Git
            // server's log tells plumb's nodes apart, as the API server's does.
            .filter(|(k, _)| !k.eq_ignore_ascii_case("user-agent"))
            .collect();
        for (k, v) in &self.headers {
            all.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
            all.push((k.clone(), v.clone()));
        }
        Arc::new(Mutex::new(Exchange {
            agent: self.agent.clone(),
            deadline: self.deadline,
            method,
            url: url.to_owned(),
            headers: all,
            body,
            state: State::NotSent,
        }))
    }
}

enum State {
    NotSent,
    Sent {
        headers: Option<io::Result<Vec<u8>>>,
        body: Option<ureq::BodyReader<'static>>,
    },
}

struct Exchange {
    agent: ureq::Agent,
    deadline: Option<Deadline>,
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Arc<Mutex<Vec<u8>>>>,
    state: State,
}

/// A ureq failure as an io::Error, keeping TLS failures readable.
fn to_io(err: ureq::Error) -> io::Error {
    match err {
        ureq::Error::Io(e) => e,
        ureq::Error::Timeout(t) => {
            io::Error::new(io::ErrorKind::TimedOut, format!("timed out ({t})"))
        }
        other => io::Error::other(other),
    }
}

impl Exchange {
    fn send(&mut self) {
        if !matches!(self.state, State::NotSent) {
            return;
        }
        // ureq's global timeout runs from the request to the last byte of its body.
        let within = match self
            .deadline
            .map(|d| d.next_wait(Duration::MAX))
            .transpose()
        {
            Ok(within) => within,
            Err(e) => {
                self.state = State::Sent {
                    headers: Some(Err(e)),
                    body: None,
                };
                return;
            }
        };
        let result = if self.method == "GET" {
            let mut req = self.agent.get(&self.url);
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if within.is_some() {
                req = req.config().timeout_global(within).build();
            }
            req.call()
        } else {
            let body = self
                .body
                .as_ref()
                .map(|b| std::mem::take(&mut *b.lock().unwrap()))
                .unwrap_or_default();
            let mut req = self.agent.post(&self.url);
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if within.is_some() {
                req = req.config().timeout_global(within).build();
            }
            req.send(&body[..])
        };
        self.state = match result {
            Err(e) => State::Sent {
                headers: Some(Err(to_io(e))),
                body: None,
            },
            Ok(response) => {
                let status = response.status().as_u16();
                tracing::debug!(method = self.method, url = %redact(&self.url), status, "git http");
                if status == 401 {
                    let www_authenticate = response
                        .headers()
                        .get_all("www-authenticate")
                        .iter()
                        .map(|v| v.as_bytes().into())
                        .collect();
                    let err = io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        AuthenticationRequired { www_authenticate },
                    );
                    State::Sent {
                        headers: Some(Err(err)),
                        body: None,
                    }
                } else if !(200..300).contains(&status) {
                    let kind = if status >= 500 {
                        io::ErrorKind::ConnectionAborted
                    } else {
                        io::ErrorKind::Other
                    };
                    let err =
                        io::Error::new(kind, format!("HTTP {status} from {}", redact(&self.url)));
                    State::Sent {
                        headers: Some(Err(err)),
                        body: None,
                    }
                } else {
                    let mut text = Vec::new();
                    for (name, value) in response.headers() {
                        text.extend_from_slice(name.as_str().as_bytes());
                        text.extend_from_slice(b": ");
                        text.extend_from_slice(value.as_bytes());
                        text.push(b'\n');
                    }
                    State::Sent {
                        headers: Some(Ok(text)),
                        body: Some(response.into_body().into_reader()),
                    }
                }
            }
        };
    }
}

/// The URL without user information, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.find('@') {
        Some(at) if rest.find('/').is_none_or(|slash| at < slash) => {
            format!("{scheme}://{}", &rest[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The response headers gix reads, or the exchange's error.
pub struct Headers {
    exchange: Arc<Mutex<Exchange>>,
    buf: Option<Cursor<Vec<u8>>>,
}

impl Headers {
    fn ready(&mut self) -> io::Result<&mut Cursor<Vec<u8>>> {
        if self.buf.is_none() {
            let mut ex = self.exchange.lock().unwrap();
            ex.send();
            let taken = match &mut ex.state {
                State::Sent { headers, .. } => headers.take(),
                State::NotSent => None,
            };
            self.buf = Some(Cursor::new(taken.unwrap_or_else(|| Ok(Vec::new()))?));
        }
        Ok(self.buf.as_mut().expect("set above"))
    }
}

impl Read for Headers {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.ready()?.read(out)
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.ready()?.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        if let Some(b) = self.buf.as_mut() {
            b.consume(amount)
        }
    }
}

/// The response body, streamed.
pub struct Body {
    exchange: Arc<Mutex<Exchange>>,
    inner: Option<io::BufReader<ureq::BodyReader<'static>>>,
}

impl Body {
    fn ready(&mut self) -> io::Result<&mut io::BufReader<ureq::BodyReader<'static>>> {
        if self.inner.is_none() {
            let mut ex = self.exchange.lock().unwrap();
            ex.send();
            let body = match &mut ex.state {
                State::Sent { body, headers } => match body.take() {
                    Some(b) => b,
                    None => {
                        return Err(match headers.take() {
                            Some(Err(e)) => e,
                            _ => io::Error::other("the HTTP response has no body"),
                        })
                    }
                },
                State::NotSent => return Err(io::Error::other("request not sent")),
            };
            self.inner = Some(io::BufReader::with_capacity(64 * 1024, body));
        }
        Ok(self.inner.as_mut().expect("set above"))
    }
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.ready()?.read(out)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.ready()?.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        if let Some(b) = self.inner.as_mut() {
            b.consume(amount)
        }
    }
}

/// What gix writes as a POST body (small: ls-refs and fetch arguments).
pub struct PostBody(Arc<Mutex<Vec<u8>>>);

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ghttp::Http for UreqHttp {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::Result<GetResponse<Headers, Body>> {
        let exchange = self.exchange("GET", url, headers, None);
        Ok(GetResponse {
            headers: Headers {
                exchange: exchange.clone(),
                buf: None,
            },
            body: Body {
                exchange,
                inner: None,
            },
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::Result<PostResponse<Headers, Body, PostBody>> {
        let buf = Arc::new(Mutex::new(Vec::with_capacity(1024)));
        let exchange = self.exchange("POST", url, headers, Some(buf.clone()));
        Ok(PostResponse {
            post_body: PostBody(buf),
            headers: Headers {
                exchange: exchange.clone(),
                buf: None,
            },
            body: Body {
                exchange,
                inner: None,
            },
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::Result<()> {
        // Options come from plumb.yaml, never from git config.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_user_information() {
        assert_eq!(redact("https://git:secret@h/r.git"), "https://h/r.git");
        assert_eq!(redact("https://h/r.git"), "https://h/r.git");
        assert_eq!(redact("https://h/a@b"), "https://h/a@b");
    }
}
