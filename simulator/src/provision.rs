//! Registers the simulated fleet with the gateway's admin API: nine customers (one per contract
//! tier and region) and every installation, each with a key of its own. Installations already
//! registered (a restarted simulator) get a new key.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fleet::customer_of;

pub struct Admin<'a> {
    pub client: &'a reqwest::Client,
    pub gateway: &'a str,
    pub token: &'a str,
}

impl Admin<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.gateway))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    /// Waits up to a minute for the gateway to load its registry.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .client
                .get(format!("{}/ready", self.gateway))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the gateway at {} is not ready after 60 s",
                self.gateway
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates (or updates) the customers of the first `installations` installations.
    pub async fn ensure_customers(&self, installations: usize) -> anyhow::Result<()> {
        for index in 0..installations.min(9) {
            let (customer, tier, region) = customer_of(index);
            let body = json!({
                "name": format!("Simulated {} customer ({})", tier.to_ascii_lowercase(), region.as_str()),
                "region": region.as_str(),
                "contract_tier": tier,
                "care_end_date": "2030-12-31",
                "alert_contacts": [{"email": format!("it@{customer}.example"), "min_severity": "WARNING"}],
            });
            let path = format!("/v1/admin/customers/{customer}");
            let (status, answer) = self.call(reqwest::Method::PUT, &path, Some(body)).await?;
            anyhow::ensure!(status < 300, "creating {customer}: {status} {answer}");
        }
        Ok(())
    }

    /// Registers the installation (or re-keys it) and returns its key.
    pub async fn key_for(&self, index: usize, installation_id: &str) -> anyhow::Result<String> {
        let (customer, _, _) = customer_of(index);
        let (mut status, mut answer) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/admin/customers/{customer}/installations"),
                Some(json!({ "installation_id": installation_id })),
            )
            .await?;
        if status == 409 {
            (status, answer) = self
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/admin/installations/{installation_id}/key"),
                    None,
                )
                .await?;
        }
        anyhow::ensure!(
            status < 300,
            "registering {installation_id}: {status} {answer}"
        );
        answer["key"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no key in the answer for {installation_id}: {answer}"))
    }
}
