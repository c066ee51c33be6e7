//! Pipeline A's routes: `GET /recordings?from=&to=&agent=&number=&direction=&limit=` and
//! `GET /recordings/daily?days=`.

use crate::search::Service;
use axum::extract::{Query, State};
use axum::http::Method;
use muara_api::answer::{Reply, answer, query, unprocessable};
use muara_api::{Route, VIEWER};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The search routes, served by the recordings API Lambda and by `muara up`.
pub fn routes(service: Arc<Service>) -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/recordings", VIEWER, service.clone(), search),
        Route::new(Method::GET, "/recordings/daily", VIEWER, service, daily),
    ]
}

async fn search(
    State(service): State<Arc<Service>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Reply {
    answer(service.search(&params).await)
}

#[derive(Debug, serde::Deserialize)]
struct DailyParams {
    days: Option<i64>,
}

async fn daily(
    State(service): State<Arc<Service>>,
    params: Result<Query<DailyParams>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let days = query(params)?.days.unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(unprocessable("days must be between 1 and 366"));
    }
    answer(service.daily(days).await)
}
