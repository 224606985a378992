//! Registers the simulated fleet with the gateway's admin API (the typed client of
//! `ucx-admin-api`): nine customers (one per contract tier and region) and every installation,
//! each with a key of its own. Installations already registered (a restarted simulator) get a
//! new key.

use std::time::{Duration, Instant};

use ucx_admin_api::AdminClient;

use crate::fleet::{customer_input, customer_of};

pub struct Admin<'a> {
    pub client: &'a reqwest::Client,
    /// The gateway's admin listener.
    pub url: &'a str,
    pub token: &'a str,
}

impl Admin<'_> {
    fn api(&self) -> AdminClient {
        AdminClient::with_http(self.client.clone(), self.url, self.token)
    }

    /// Waits up to a minute for the gateway to load its registry.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .client
                .get(format!("{}/ready", self.url))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the gateway at {} is not ready after 60 s",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates (or updates) the customers of the first `installations` installations.
    pub async fn ensure_customers(&self, installations: usize) -> anyhow::Result<()> {
        let api = self.api();
        for index in 0..installations.min(9) {
            let (customer, input) = customer_input(index);
            api.put_customer(&customer, &input)
                .await
                .map_err(|error| anyhow::anyhow!("creating {customer}: {error}"))?;
        }
        Ok(())
    }

    /// Registers the installation (or re-keys it) and returns its key.
    pub async fn key_for(&self, index: usize, installation_id: &str) -> anyhow::Result<String> {
        let (customer, _, _) = customer_of(index);
        let issued = self
            .api()
            .key_for(&customer, installation_id)
            .await
            .map_err(|error| anyhow::anyhow!("registering {installation_id}: {error}"))?;
        Ok(issued.key)
    }
}
