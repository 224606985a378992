//! Every stage's in-memory view of the customer registry, fed from the compacted registry
//! topic: read from the beginning at start, then followed live. Until the first read reaches
//! the end of the topic the view is not loaded, and stages that decide on it wait (the gateway
//! answers 503) rather than act on a partial registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use ucx_schemas::{
    decode_registry, Acknowledgement, Customer, FleetIncident, Installation, InstallationStatus,
    PurgeRequest, RegistryRecord, Silence,
};

use crate::config::KafkaSettings;

/// The registry topic has one partition, so one offset orders every change.
const PARTITION: i32 = 0;

#[derive(Default)]
struct State {
    customers: HashMap<String, Customer>,
    installations: HashMap<String, Installation>,
    /// key id → installation id
    by_key_id: HashMap<String, String>,
    purges: HashMap<String, PurgeRequest>,
    /// installation id → the latest `requested_at` of a purge naming it
    purged_until: HashMap<String, i64>,
    silences: HashMap<String, Silence>,
    /// alert id → who took it on
    acknowledgements: HashMap<String, Acknowledgement>,
    /// incident id → the newest record (raised by the fleet guard, decided by support)
    fleet_incidents: HashMap<String, FleetIncident>,
}

/// How far the view has read the registry topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The first read reached the end of the topic.
    pub loaded: bool,
    /// Offset of the next record to apply.
    pub next_offset: i64,
}

/// How long a customer's telemetry may be off without a purge request on record before the
/// registry view derives one (the request is normally written milliseconds after the switch).
pub const PURGE_FALLBACK_AFTER_MS: i64 = 30_000;

/// The instant a purge derived from `customer`'s switch-off covers, if one is due: telemetry
/// off for [`PURGE_FALLBACK_AFTER_MS`] with no purge request at or after the record's last
/// change. It covers that wait too, so beats a gateway still accepted while its view lagged
/// behind the switch are purged with the rest.
fn derived_purge_at(state: &State, customer: &Customer, now: i64) -> Option<i64> {
    let requested = state
        .purges
        .get(&customer.customer_id)
        .is_some_and(|purge| purge.requested_at >= customer.updated_at);
    let due = customer.updated_at + PURGE_FALLBACK_AFTER_MS;
    (!customer.telemetry_enabled && !requested && now >= due).then_some(due)
}

pub struct RegistryView {
    state: RwLock<State>,
    progress: watch::Sender<Progress>,
    /// Installations waited for in vain: not waited for again, so records of an installation
    /// that is really unknown do not each stall their reader.
    given_up: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Why this view cannot be trusted: a record it could not read (kept: a skipped revocation
    /// would stay skipped), or a reader that fails now (cleared when it reads again).
    unreadable: std::sync::Mutex<Option<String>>,
    failing: std::sync::Mutex<Option<String>>,
    /// Per key, the last few records read with their offsets: a writer learns whether another
    /// wrote the same key between its read and its own write (see [`RegistryView::version`]).
    recent: std::sync::Mutex<HashMap<String, RecentRecords>>,
    /// Records applied so far: what a reader derived from the view holds while this stays.
    generation: AtomicU64,
}

/// A key's last records, oldest first, with their offsets.
type RecentRecords = std::collections::VecDeque<(i64, Option<RegistryRecord>)>;

/// Records kept per key for [`RegistryView::written_between`].
const RECENT_PER_KEY: usize = 8;

impl RegistryView {
    /// An empty view; [`follow`] fills it from the topic.
    pub fn new() -> Self {
        RegistryView {
            state: RwLock::default(),
            progress: watch::Sender::new(Progress::default()),
            given_up: Default::default(),
            unreadable: Default::default(),
            failing: Default::default(),
            recent: Default::default(),
            generation: Default::default(),
        }
    }

    /// Changes whenever a record is applied (read it before reading the view: what was derived
    /// then is still true while it has not changed).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The offset of the newest record of `key` read so far (-1 for none): a writer notes it
    /// before building its record from the view.
    pub fn version(&self, key: &str) -> i64 {
        self.recent
            .lock()
            .unwrap()
            .get(key)
            .and_then(|records| records.back())
            .map_or(-1, |(offset, _)| *offset)
    }

    /// The newest record of `key` read at an offset after `after` and before `before`: another
    /// writer's, landed between a writer's read (`after`) and its own write (`before`).
    pub fn written_between(
        &self,
        key: &str,
        after: i64,
        before: i64,
    ) -> Option<(i64, Option<RegistryRecord>)> {
        self.recent
            .lock()
            .unwrap()
            .get(key)?
            .iter()
            .rev()
            .find(|(offset, _)| *offset > after && *offset < before)
            .cloned()
    }

    /// Whether this view can be relied on: loaded, every record read, its reader reading. A
    /// stage or gateway whose view cannot be is not ready, with this reason.
    pub fn health(&self) -> Result<(), String> {
        if let Some(problem) = self.unreadable.lock().unwrap().clone() {
            return Err(problem);
        }
        if let Some(problem) = self.failing.lock().unwrap().clone() {
            return Err(problem);
        }
        if !self.is_loaded() {
            return Err("not loaded yet".into());
        }
        Ok(())
    }

    /// Decodes and applies the record at `offset`. One that cannot be decoded (a newer writer,
    /// or a bug) is skipped, which may skip a revocation: the view says so until restarted.
    pub fn receive(&self, key: &str, payload: Option<&[u8]>, offset: i64) {
        match payload.map(decode_registry).transpose() {
            Ok(record) => {
                // Applied before its version is noted: a writer reads the version, then the view,
                // so a version it saw is always in what it read.
                self.apply(key, record.clone());
                let mut recent = self.recent.lock().unwrap();
                let records = recent.entry(key.to_string()).or_default();
                records.push_back((offset, record));
                if records.len() > RECENT_PER_KEY {
                    records.pop_front();
                }
            }
            Err(error) => {
                tracing::error!(%error, key, offset, "unreadable registry record skipped");
                *self.unreadable.lock().unwrap() = Some(format!(
                    "registry record at offset {offset} (key {key}) cannot be read ({error}); was it written by a newer version? upgrade this service, then restart it"
                ));
            }
        }
        self.advance(offset + 1);
    }

    /// A view holding `records` and marked loaded, without a broker (unit tests of the stages
    /// that decide on the registry).
    pub fn loaded_from(records: impl IntoIterator<Item = RegistryRecord>) -> Self {
        let view = RegistryView::new();
        for record in records {
            view.apply(&record.key(), Some(record));
        }
        view.mark_loaded();
        view
    }

    /// Whether the customer of a registered installation lets its telemetry be kept (`None`:
    /// no such installation). Nothing is copied: the processors ask for every beat.
    pub fn telemetry_enabled(&self, installation_id: &str) -> Option<bool> {
        let state = self.read();
        let installation = state.installations.get(installation_id)?;
        Some(
            state
                .customers
                .get(&installation.customer_id)
                .is_some_and(|customer| customer.telemetry_enabled),
        )
    }

    pub fn customer(&self, customer_id: &str) -> Option<Customer> {
        self.read().customers.get(customer_id).cloned()
    }

    pub fn customers(&self) -> Vec<Customer> {
        let mut customers: Vec<Customer> = self.read().customers.values().cloned().collect();
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        customers
    }

    /// The installations that are watched: active, of a customer with telemetry on (or of no
    /// known customer).
    pub fn watched_installations(&self) -> Vec<String> {
        let state = self.read();
        state
            .installations
            .values()
            .filter(|installation| is_active(installation))
            .filter(|installation| {
                state
                    .customers
                    .get(&installation.customer_id)
                    .is_none_or(|customer| customer.telemetry_enabled)
            })
            .map(|installation| installation.installation_id.clone())
            .collect()
    }

    pub fn installation(&self, installation_id: &str) -> Option<Installation> {
        self.read().installations.get(installation_id).cloned()
    }

    /// The customer of an installation: one string copied, not the whole record (the sinks ask
    /// for every record).
    pub fn customer_id_of(&self, installation_id: &str) -> Option<String> {
        self.read()
            .installations
            .get(installation_id)
            .map(|installation| installation.customer_id.clone())
    }

    /// The installation whose current key has this public id (revoked ones included).
    pub fn installation_by_key_id(&self, key_id: &str) -> Option<Installation> {
        let state = self.read();
        let installation_id = state.by_key_id.get(key_id)?;
        state.installations.get(installation_id).cloned()
    }

    pub fn installations_of(&self, customer_id: &str) -> Vec<Installation> {
        let mut installations: Vec<Installation> = self
            .read()
            .installations
            .values()
            .filter(|installation| installation.customer_id == customer_id)
            .cloned()
            .collect();
        installations.sort_by(|a, b| a.installation_id.cmp(&b.installation_id));
        installations
    }

    /// The customer an installation belongs to.
    pub fn customer_of(&self, installation_id: &str) -> Option<Customer> {
        let state = self.read();
        let installation = state.installations.get(installation_id)?;
        state.customers.get(&installation.customer_id).cloned()
    }

    /// The latest purge request of every customer that switched telemetry off; and for a
    /// customer whose telemetry has been off for [`PURGE_FALLBACK_AFTER_MS`] with no purge
    /// request at or after its record's last change (the gateway that switched it off died, or
    /// lost the broker, between the two writes), one derived from the customer record: every
    /// switch-off ends purged, whatever happened to the request. An edit of an opted-out
    /// customer thus purges once more, which deletes nothing new.
    pub fn purges(&self) -> Vec<PurgeRequest> {
        let state = self.read();
        let mut purges: Vec<PurgeRequest> = state.purges.values().cloned().collect();
        let now = crate::now_ms();
        for customer in state.customers.values() {
            let Some(requested_at) = derived_purge_at(&state, customer, now) else {
                continue;
            };
            let mut installation_ids: Vec<String> = state
                .installations
                .values()
                .filter(|installation| installation.customer_id == customer.customer_id)
                .map(|installation| installation.installation_id.clone())
                .collect();
            installation_ids.sort();
            purges.push(PurgeRequest {
                customer_id: customer.customer_id.clone(),
                installation_ids,
                requested_at,
                reason: "telemetry switched off; no purge request was on record, so the pipeline derived one from the customer record".into(),
            });
        }
        purges
    }

    /// Data of this installation up to the returned instant (UTC ms) is to be purged: by a
    /// purge request, or by one derived from its customer's switch-off (see [`Self::purges`]).
    pub fn purged_until(&self, installation_id: &str) -> Option<i64> {
        let state = self.read();
        let requested = state.purged_until.get(installation_id).copied();
        // two lookups per record; telemetry on (nearly every record) ends at the second
        let derived = state
            .installations
            .get(installation_id)
            .and_then(|installation| state.customers.get(&installation.customer_id))
            .filter(|customer| !customer.telemetry_enabled)
            .and_then(|customer| derived_purge_at(&state, customer, crate::now_ms()));
        requested.max(derived)
    }

    /// Every silence and maintenance window, ended ones included, by start.
    pub fn silences(&self) -> Vec<Silence> {
        let mut silences: Vec<Silence> = self.read().silences.values().cloned().collect();
        silences.sort_by(|a, b| (a.starts_at, &a.silence_id).cmp(&(b.starts_at, &b.silence_id)));
        silences
    }

    /// The silences and maintenance windows of one customer (any time).
    pub fn silences_of(&self, customer_id: &str) -> Vec<Silence> {
        self.read()
            .silences
            .values()
            .filter(|silence| silence.customer_id == customer_id)
            .cloned()
            .collect()
    }

    /// Every fleet incident and fleet-wide silence, newest first.
    pub fn fleet_incidents(&self) -> Vec<FleetIncident> {
        let mut incidents: Vec<FleetIncident> =
            self.read().fleet_incidents.values().cloned().collect();
        incidents.sort_by_key(|incident| std::cmp::Reverse(incident.opened_at));
        incidents
    }

    pub fn fleet_incident(&self, incident_id: &str) -> Option<FleetIncident> {
        self.read().fleet_incidents.get(incident_id).cloned()
    }

    pub fn acknowledgement(&self, alert_id: &str) -> Option<Acknowledgement> {
        self.read().acknowledgements.get(alert_id).cloned()
    }

    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Changes whenever a record was applied or the view became loaded.
    pub fn changes(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub fn is_loaded(&self) -> bool {
        self.progress().loaded
    }

    /// Waits until the first read reached the end of the topic; false on timeout.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |progress| progress.loaded).await
    }

    /// Waits until the record at `offset` has been applied (read-your-writes for the admin
    /// API); false on timeout.
    pub async fn wait_applied(&self, offset: i64, timeout: Duration) -> bool {
        self.wait_for(timeout, |progress| progress.next_offset > offset)
            .await
    }

    /// The installation, waiting up to `timeout` for it to appear. A beat reaches a stage only
    /// after the gateway authenticated it, so an installation this view does not know yet was
    /// registered moments ago and its record is on its way.
    pub async fn wait_for_installation(
        &self,
        installation_id: &str,
        timeout: Duration,
    ) -> Option<Installation> {
        if let Some(installation) = self.installation(installation_id) {
            return Some(installation);
        }
        if self.given_up.lock().unwrap().contains(installation_id) {
            return None;
        }
        self.wait_for(timeout, |_| self.installation(installation_id).is_some())
            .await;
        let found = self.installation(installation_id);
        if found.is_none() {
            tracing::warn!(
                installation_id,
                "installation unknown to the customer registry"
            );
            self.given_up
                .lock()
                .unwrap()
                .insert(installation_id.to_string());
        }
        found
    }

    async fn wait_for(&self, timeout: Duration, done: impl Fn(&Progress) -> bool) -> bool {
        let mut changes = self.progress.subscribe();
        tokio::time::timeout(timeout, changes.wait_for(done))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    /// Applies one record (or, with `None`, a tombstone deleting `key`).
    pub fn apply(&self, key: &str, record: Option<RegistryRecord>) {
        let mut state = self.state.write().expect("registry lock");
        match record {
            Some(RegistryRecord::Customer(customer)) => {
                state
                    .customers
                    .insert(customer.customer_id.clone(), customer);
            }
            Some(RegistryRecord::Installation(installation)) => {
                if let Some(previous) = state.installations.get(&installation.installation_id) {
                    let previous_key = previous.key_id.clone();
                    state.by_key_id.remove(&previous_key);
                }
                state.by_key_id.insert(
                    installation.key_id.clone(),
                    installation.installation_id.clone(),
                );
                state
                    .installations
                    .insert(installation.installation_id.clone(), installation);
            }
            Some(RegistryRecord::Purge(purge)) => {
                for installation_id in &purge.installation_ids {
                    let until = state
                        .purged_until
                        .entry(installation_id.clone())
                        .or_insert(purge.requested_at);
                    *until = (*until).max(purge.requested_at);
                }
                state.purges.insert(purge.customer_id.clone(), purge);
            }
            Some(RegistryRecord::Silence(silence)) => {
                state.silences.insert(silence.silence_id.clone(), silence);
            }
            Some(RegistryRecord::Acknowledgement(ack)) => {
                state.acknowledgements.insert(ack.alert_id.clone(), ack);
            }
            Some(RegistryRecord::FleetIncident(incident)) => {
                state
                    .fleet_incidents
                    .insert(incident.incident_id.clone(), incident);
            }
            None => match key.split_once(':') {
                Some(("customer", id)) => {
                    state.customers.remove(id);
                }
                Some(("installation", id)) => {
                    if let Some(removed) = state.installations.remove(id) {
                        state.by_key_id.remove(&removed.key_id);
                    }
                }
                Some(("purge", id)) => {
                    state.purges.remove(id);
                }
                Some(("silence", id)) => {
                    state.silences.remove(id);
                }
                Some(("ack", id)) => {
                    state.acknowledgements.remove(id);
                }
                Some(("fleet", id)) => {
                    state.fleet_incidents.remove(id);
                }
                _ => tracing::warn!(key, "registry tombstone with an unknown key ignored"),
            },
        }
        // after the change: whoever reads the new generation reads the changed state
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn advance(&self, next_offset: i64) {
        self.progress
            .send_modify(|progress| progress.next_offset = next_offset);
    }

    fn mark_loaded(&self) {
        self.progress.send_if_modified(|progress| {
            let changed = !progress.loaded;
            progress.loaded = true;
            changed
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().expect("registry lock")
    }
}

impl Default for RegistryView {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether an installation may send beats, and if not, why.
pub fn is_active(installation: &Installation) -> bool {
    installation.status == InstallationStatus::Active
}

/// Starts following the registry topic into a fresh view; the view stays current until
/// `shutdown`. The topic is created (compacted, one partition) if it is missing.
pub async fn follow(
    settings: &KafkaSettings,
    shutdown: CancellationToken,
) -> Result<Arc<RegistryView>, KafkaError> {
    if let Err(error) = crate::kafka::ensure_registry_topic(settings).await {
        tracing::warn!(%error, "could not ensure the registry topic exists; continuing");
    }
    let consumer = crate::kafka::reader(settings, "ucx-registry-reader")?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&settings.registry_topic, PARTITION, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let view = Arc::new(RegistryView::new());
    tokio::spawn(read_forever(
        Arc::new(consumer),
        settings.registry_topic.clone(),
        view.clone(),
        shutdown,
    ));
    Ok(view)
}

/// How often a failing reader asks the broker whether it reads again.
const RECHECK: Duration = Duration::from_secs(1);

async fn read_forever(
    consumer: Arc<StreamConsumer<crate::kafka::ReaderContext>>,
    topic: String,
    view: Arc<RegistryView>,
    shutdown: CancellationToken,
) {
    loop {
        let failing = view.failing.lock().unwrap().is_some();
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            message = consumer.recv() => message,
            // librdkafka reports the end of a partition once: a reader that was at the end when
            // the broker went away gets neither a record nor another end-of-partition when it
            // comes back, so it asks the broker where the end is (recv is cancel-safe).
            _ = tokio::time::sleep(RECHECK), if failing => {
                if reads_at_the_end(&consumer, &topic, view.progress().next_offset).await {
                    tracing::info!("reading the registry topic again");
                    *view.failing.lock().unwrap() = None;
                }
                continue;
            }
        };
        match message {
            Ok(message) => {
                *view.failing.lock().unwrap() = None;
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                view.receive(&key, message.payload(), message.offset());
            }
            Err(KafkaError::PartitionEOF(_)) => {
                *view.failing.lock().unwrap() = None;
                if !view.is_loaded() {
                    tracing::info!(
                        next_offset = view.progress().next_offset,
                        "customer registry loaded"
                    );
                }
                view.mark_loaded();
            }
            Err(error) => {
                *view.failing.lock().unwrap() = Some(format!(
                    "reading the registry topic fails ({error}); retrying"
                ));
                tracing::warn!(%error, "reading the registry topic failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Whether the broker answers for the registry partition and nothing there is unread.
async fn reads_at_the_end(
    consumer: &Arc<StreamConsumer<crate::kafka::ReaderContext>>,
    topic: &str,
    next_offset: i64,
) -> bool {
    let (consumer, topic) = (consumer.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        consumer.fetch_watermarks(&topic, PARTITION, Duration::from_secs(2))
    })
    .await
    .ok()
    .and_then(Result::ok)
    .is_some_and(|(_, high)| next_offset >= high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_record_makes_the_view_untrustworthy_until_restarted() {
        let view = RegistryView::loaded_from([]);
        assert_eq!(view.health(), Ok(()));
        view.receive("inst-1", Some(b"not a registry record"), 41);
        let problem = view.health().unwrap_err();
        assert!(
            problem.contains("offset 41") && problem.contains("upgrade"),
            "{problem}"
        );
        assert_eq!(view.progress().next_offset, 42, "the reader goes on");
        assert!(RegistryView::new().health().is_err(), "not loaded yet");
    }
}
