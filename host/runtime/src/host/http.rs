//! `http.fetch`: the plugin's request goes through the egress guard.

use tokio::time::Instant;

use crate::bindings::HttpResponse;
use crate::bindings::switchboard::channel::http::{Host, HttpError, Request};
use crate::state::PluginState;

impl Host for PluginState {
    async fn fetch(
        &mut self,
        request: Request,
    ) -> wasmtime::Result<Result<HttpResponse, HttpError>> {
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        let host = request.url.clone();
        let result = self
            .egress
            .fetch(
                &self.plugin.egress,
                &self.plugin.secrets,
                request,
                time_left,
            )
            .await;
        match &result {
            Ok(response) => {
                tracing::debug!(plugin = %self.plugin.id, url = %host, status = response.status, "plugin request")
            }
            Err(HttpError::Denied(why)) => {
                tracing::warn!(plugin = %self.plugin.id, url = %host, %why, "plugin request denied")
            }
            Err(error) => {
                tracing::debug!(plugin = %self.plugin.id, url = %host, ?error, "plugin request failed")
            }
        }
        Ok(result)
    }
}
