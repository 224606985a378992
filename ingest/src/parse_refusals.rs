//! hyper answers a request it cannot parse (a malformed request line, a control byte in a
//! header, a head too large) itself, before any router sees it: the bare status with an empty
//! body, then it closes the connection. hyper 1.x has no hook for that answer, so each
//! connection's writes are watched and such a bare refusal is replaced by the same status with
//! the gateway's JSON body (`code`, `error`, `violations`). The gateway's own answers always
//! carry a body and a `Content-Type`, so they are never mistaken for one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An acceptor that wraps every connection of `inner` (after TLS, if any) in [`JsonRefusals`].
#[derive(Clone)]
pub struct JsonRefusalsAcceptor<A> {
    inner: A,
}

impl<A> JsonRefusalsAcceptor<A> {
    pub fn new(inner: A) -> Self {
        JsonRefusalsAcceptor { inner }
    }
}

impl<A, I, S> Accept<I, S> for JsonRefusalsAcceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = JsonRefusals<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((
                JsonRefusals {
                    inner: stream,
                    replacement: None,
                },
                service,
            ))
        })
    }
}

/// A connection whose bare parse-error answers are rewritten as JSON ones.
pub struct JsonRefusals<S> {
    inner: S,
    /// The JSON answer being written in place of a bare one, and how much of it went out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonRefusals<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() {
            match json_answer_for(buf) {
                Some(answer) => this.replacement = Some((answer, 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // hyper calls again with the same bytes after Pending: go on with the replacement, and
        // report hyper's bytes written once all of it is out.
        while let Some((answer, written)) = this.replacement.as_mut() {
            if *written == answer.len() {
                this.replacement = None;
                break;
            }
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The JSON answer replacing `written`, when it is a bare refusal of hyper's own: a whole
/// response head of status 400, 414 or 431 with `content-length: 0`, no `content-type` and
/// nothing after it.
fn json_answer_for(written: &[u8]) -> Option<Vec<u8>> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.strip_prefix("HTTP/1.")?.get(2..5)?;
    let (code, error) = match status {
        "400" => (
            "malformed_request",
            "the request is not valid HTTP/1.1 (its request line, a header name or a header value, e.g. a control byte); nothing was read from it. Send a well-formed request: POST /v1/beats (see /openapi.json)",
        ),
        "414" => (
            "uri_too_long",
            "the request's URI is too long; beats are posted to /v1/beats",
        ),
        "431" => (
            "headers_too_large",
            "the request's headers are too large; send only the headers a beat needs (Authorization, Content-Type, Content-Encoding)",
        ),
        _ => return None,
    };
    let headers: Vec<&str> = lines.collect();
    let bare = headers
        .iter()
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"))
        && !headers
            .iter()
            .any(|line| line.to_ascii_lowercase().starts_with("content-type:"));
    if !bare {
        return None;
    }
    let body = serde_json::json!({"code": code, "error": error, "violations": []}).to_string();
    let mut answer = format!("{status_line}\r\n");
    for line in headers.iter().filter(|line| {
        let line = line.to_ascii_lowercase();
        !line.starts_with("content-length:") && !line.starts_with("connection:")
    }) {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_refusal_becomes_json_and_the_gateways_own_answers_stay() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 15:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_answer_for(bare).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("date: Mon, 30 Nov 2026"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "malformed_request");
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(json_answer_for(too_large).unwrap())
            .unwrap()
            .contains("headers_too_large"));

        // the gateway's own 400 (with a body), any success, a partial head: left alone
        for written in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"beat_id\": \"HTTP/1.1 400 \"}",
        ] {
            assert_eq!(json_answer_for(written), None, "{}", String::from_utf8_lossy(written));
        }
    }
}
