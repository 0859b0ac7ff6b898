//! A deadline for a request's whole body, counted from when its headers arrived. A client that
//! drips its body (a slowloris) gets 408 once the deadline passes, and its connection is closed,
//! so it holds a connection and a slot of its surface for no longer than the deadline, however
//! slowly it sends. The deadline is for the whole body, not between bytes: dripping one byte
//! just inside an idle timeout would otherwise hold a connection for ever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::ApiError;
use switchboard_core::metrics;

/// Gives the request's body until `timeout` from now; answers 408 if reading it ran out of time.
pub async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + timeout;
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            until,
            sleep: None,
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    // Whatever the handler made of the cut-off body, the reason is the deadline.
    metrics::body_timeout();
    tracing::warn!(
        timeout_ms = timeout.as_millis(),
        "request body did not arrive in time"
    );
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!(
            "the request body did not arrive within {} ms",
            timeout.as_millis()
        ),
    )
    .into_response();
    // The rest of the body may still be on its way: the connection is not reusable.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Body,
    until: Instant,
    /// Made the first time the body has to wait, so a body that is all there costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

/// The error a body past its deadline reads as.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let until = this.until;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::middleware;
    use axum::routing::post;
    use tower::ServiceExt as _;

    /// A router whose one route reads the whole body and says how long it was.
    fn app(timeout: Duration) -> Router {
        Router::new()
            .route(
                "/in",
                post(|body: Body| async move {
                    match axum::body::to_bytes(body, 1 << 20).await {
                        Ok(bytes) => (StatusCode::OK, bytes.len().to_string()),
                        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
                    }
                }),
            )
            .layer(middleware::from_fn_with_state(timeout, deadline))
    }

    /// A body that yields one byte `gap` apart, `left` times.
    struct Dripped {
        left: usize,
        gap: Duration,
        sleep: Pin<Box<Sleep>>,
    }

    impl http_body::Body for Dripped {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            if this.left == 0 {
                return Poll::Ready(None);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.left -= 1;
            let next = Instant::now() + this.gap;
            this.sleep.as_mut().reset(next);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    fn dripped(left: usize, gap: Duration) -> Body {
        Body::new(Dripped {
            left,
            gap,
            sleep: Box::pin(tokio::time::sleep(gap)),
        })
    }

    fn request(body: Body) -> Request {
        Request::builder()
            .method("POST")
            .uri("/in")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_time_is_read_whole() {
        let reply = app(Duration::from_secs(5))
            .oneshot(request(dripped(4, Duration::from_millis(20))))
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let body = axum::body::to_bytes(reply.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"4");
    }

    #[tokio::test]
    async fn a_dripped_body_past_its_deadline_is_answered_408_and_the_connection_closed() {
        // Each gap is well inside the deadline; the whole is not.
        let reply = app(Duration::from_millis(300))
            .oneshot(request(dripped(20, Duration::from_millis(50))))
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(reply.headers()[header::CONNECTION], "close");
        let body = axum::body::to_bytes(reply.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "body_timeout");
        assert_eq!(
            body["error"]["message"],
            "the request body did not arrive within 300 ms"
        );
    }

    #[tokio::test]
    async fn an_empty_body_needs_no_deadline() {
        let reply = app(Duration::from_millis(1))
            .oneshot(request(Body::empty()))
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
    }
}
