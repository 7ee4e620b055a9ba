//! store-sim: a closed-loop what-if simulator of the whole pipeline.
//!
//! Simulated shoppers empty simulated shelves; the shelves' sensors report through the real
//! reading sink into the lake; the real planner plans on its cadence and sends alerts through
//! the real queue; the real dispatcher accepts them, routes trucks and records deliveries in
//! the real ledger; and the deliveries fill the shelves again. Everything runs over the
//! embedded backend on a virtual clock, as fast as the CPU allows, and the run ends with the
//! KPIs a retail team runs on: stock-out hours, lost sales, stock on hand, km per unit.
//!
//! | Module | What it holds |
//! |---|---|
//! | [`scenario`] | The scenario file: chain, demand, shelves, sensors, planner, fleet |
//! | [`shelf`] | One shelf: shoppers in the hour, deliveries, stock-out time, conservation |
//! | [`run`] | The loop over the real planner, queue, dispatcher and ledger |
//! | [`kpis`] | The KPI object written as `kpis.json` |
//! | [`report`] | The HTML reports with inline SVG plots, and the terminal table |
//! | [`series`] | The shoppers' demand as daily series, for the forecast benchmark |
//!
//! Demand itself is [`store_model::demand`], shared with `store-app simulate`.

pub mod kpis;
pub mod report;
pub mod run;
pub mod scenario;
pub mod series;
pub mod shelf;

pub use kpis::Kpis;
pub use run::{Outcome, TimeSpent, run};
pub use scenario::Scenario;
