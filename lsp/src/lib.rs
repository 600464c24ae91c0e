//! `ward lsp`: Ward's language server, over stdin and stdout.
//!
//! The server keeps one [`Workspace`] — the same salsa database `ward check`
//! uses — holding every `.ward` file of the workspace folders and the
//! standard library. Editors' text replaces the files' text as they type.
//! Nothing is checked twice: diagnostics, hover, navigation and completion
//! are queries on that database ([`ward_compiler::ide`]).
//!
//! Concurrency: queries run on a *snapshot* of the database on a blocking
//! thread. An edit cancels the queries still running on snapshots (salsa
//! unwinds them), so a request about a text that has changed gets
//! `ContentModified` rather than an answer computed for the old text; a
//! request that finishes but whose document changed meanwhile gets the same.
//! A panic in a query is caught and logged, and the server keeps serving.
//!
//! Diagnostics are computed after a short pause in typing (debounced) and
//! published only for the files whose diagnostics changed.
//!
//! Stdout carries the protocol only; logs go to stderr.

mod convert;
mod server;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tower_lsp_server::jsonrpc::{Request, Response};
use tower_service::Service;

pub use convert::{LineIndex, apply_changes};
pub use server::Backend;

/// The default pause after an edit before diagnostics are computed.
pub const DEFAULT_DEBOUNCE_MS: u64 = 15;

/// Runs the language server on stdin and stdout until the client exits.
pub fn run_stdio() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        // Checking deeply nested input recurses; give the query threads room.
        .thread_stack_size(64 * 1024 * 1024)
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ward lsp: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let (service, socket) = server::service();
        let service = ExitOnExit { inner: service, shut_down: Arc::new(AtomicBool::new(false)) };
        tower_lsp_server::Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
    });
    // The client closed stdin without `exit`; do not wait for running queries.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::SUCCESS
}

/// Ends the process on the `exit` notification, as the protocol asks: status 0
/// after `shutdown`, 1 before (tower-lsp-server stops reading at `exit`, but
/// returns only once the requests still running have finished, and gives no status).
struct ExitOnExit<S> {
    inner: S,
    shut_down: Arc<AtomicBool>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request> for ExitOnExit<S>
where
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = request.method().to_string();
        if method == "shutdown" {
            self.shut_down.store(true, Ordering::SeqCst);
        }
        let shut_down = Arc::clone(&self.shut_down);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            if method == "exit" {
                std::process::exit(if shut_down.load(Ordering::SeqCst) { 0 } else { 1 });
            }
            response
        })
    }
}
