//! Every end-to-end test in one binary: one link instead of one per file keeps the build
//! small (CI disk) and fast. Each module is a former test file; tests share nothing but the
//! services, and those that crash or restart a service start their own.
mod admin_api;
mod advisories;
mod alert_closure;
mod alert_lifecycle;
mod backtest;
mod batches;
mod broker_outage;
mod clickhouse_restart;
mod config_file;
mod dashboards;
mod dead_letters;
mod detection_quality;
mod end_to_end;
mod every_category;
mod fault_injection;
mod fleet_storm;
mod gateway_auth;
mod gateway_fuzz;
mod gateway_hostile;
mod gateway_transport;
mod idempotency;
mod incidents;
mod liveness;
mod migrations;
mod notifier;
mod openapi;
mod personal_data;
mod processor_state;
mod purge;
mod residency;
mod retention;
mod rules;
mod shadow;
mod sink_crash;
mod state_bounds;
