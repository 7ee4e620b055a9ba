//! `store-bench forecast`: the planner's demand forecaster run over daily series, scored as the
//! field scores forecasts, so it can be set beside statsforecast's models
//! (`bench/forecast_reference.py`, run by `scripts/bench-forecast.sh`).
//!
//! **Input**: CSV `unique_id,ds,y` (the long format statsforecast reads; `store-sim demand`
//! writes it), each series' days consecutive and in order, `y` a count of units.
//! **Split**: the last `horizon` days of each series are held out; the forecaster sees the rest.
//! **Our forecaster** is [`DemandState`], the state the snapshot fold keeps, fed each day's units
//! (as sold in the middle of the day) and moved on to the end of the training days; its forecast
//! is the smoothed rate times 24, the same for every held-out day (a level, as the planner uses).
//! **Score**: MASE, the held-out days' mean absolute error over the training days' mean absolute
//! one-day change (the in-sample naive forecast's error); a series whose training days never
//! change has no scale and is counted apart. **Classes**: a series is intermittent when its
//! average interval between demands (training days over days with demand) is at least 1.32
//! (Syntetos and Boylan's cut-off), smooth otherwise.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use store_model::forecast::DemandState;

/// The longest line read: an id, a date and a count are far shorter.
const MAX_LINE: usize = 1024;
/// The longest series id.
const MAX_ID: usize = 256;
/// The longest series, days.
const MAX_DAYS: usize = 100_000;
/// Syntetos and Boylan's cut-off on the average demand interval.
pub const INTERMITTENT_ADI: f64 = 1.32;

/// One daily series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its id.
    pub id: String,
    /// Its first day, days since 1970-01-01.
    pub first_day: i64,
    /// Units per day from the first.
    pub y: Vec<f64>,
}

/// Reads `unique_id,ds,y` CSV: the header, then one row per series and day. Refuses, with the
/// line, a malformed row, a day out of order or missing, a negative or non-finite count.
pub fn read_series(input: impl BufRead) -> Result<Vec<Series>> {
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line.with_context(|| format!("line {line_no}"))?;
        ensure!(
            line.len() <= MAX_LINE,
            "line {line_no}: longer than {MAX_LINE} bytes"
        );
        if n == 0 {
            ensure!(
                line.trim_end() == "unique_id,ds,y",
                "line 1: the header must be `unique_id,ds,y`"
            );
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let [id, ds, y] = fields.as_slice() else {
            bail!(
                "line {line_no}: three fields expected, found {}",
                fields.len()
            );
        };
        ensure!(
            !id.is_empty() && id.len() <= MAX_ID && !id.chars().any(char::is_control),
            "line {line_no}: the id must be 1 to {MAX_ID} printable characters"
        );
        let date = chrono::NaiveDate::parse_from_str(ds, "%Y-%m-%d")
            .with_context(|| format!("line {line_no}: `ds` is not a YYYY-MM-DD date"))?;
        let day = date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp().div_euclid(86_400))
            .unwrap_or_default();
        let y: f64 = y
            .parse()
            .with_context(|| format!("line {line_no}: `y` is not a number"))?;
        ensure!(
            y.is_finite() && y >= 0.0,
            "line {line_no}: `y` must be a count of units (finite, not negative)"
        );
        match index.get(*id) {
            Some(&i) => {
                let s = &mut out[i];
                let want = s.first_day + s.y.len() as i64;
                ensure!(
                    day == want,
                    "line {line_no}: {id} skips or repeats a day ({ds})"
                );
                ensure!(s.y.len() < MAX_DAYS, "line {line_no}: {id} is too long");
                s.y.push(y);
            }
            None => {
                index.insert((*id).to_owned(), out.len());
                out.push(Series {
                    id: (*id).to_owned(),
                    first_day: day,
                    y: vec![y],
                });
            }
        }
    }
    Ok(out)
}

/// Our forecaster's units per day for the days after `train`: the demand state fed each
/// training day's units at noon, moved on to the end of the last training day.
pub fn forecast_per_day(first_day: i64, train: &[f64]) -> f64 {
    let start = first_day * 86_400;
    let sales: Vec<(i64, f64)> = train
        .iter()
        .enumerate()
        .map(|(d, y)| (start + d as i64 * 86_400 + 12 * 3600, *y))
        .collect();
    let end = start + train.len() as i64 * 86_400;
    DemandState::new(start).fold(end, &sales).per_hour() * 24.0
}

/// The mean absolute scaled error of `forecast` on `test`, scaled by `train`'s mean absolute
/// one-day change; `None` when that is 0 (or there are too few days).
pub fn mase(train: &[f64], test: &[f64], forecast: &[f64]) -> Option<f64> {
    if train.len() < 2 || test.is_empty() {
        return None;
    }
    let scale =
        train.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (train.len() - 1) as f64;
    if scale <= 0.0 {
        return None;
    }
    let mae = test
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum::<f64>()
        / test.len() as f64;
    Some(mae / scale)
}

/// Whether a series is intermittent by its training days.
pub fn intermittent(train: &[f64]) -> bool {
    let demand_days = train.iter().filter(|y| **y > 0.0).count();
    demand_days == 0 || train.len() as f64 / demand_days as f64 >= INTERMITTENT_ADI
}

/// Runs our forecaster over every series with `horizon` days held out; writes the forecasts
/// (`unique_id,ds,ours`) to `forecasts`, and returns the summary: MASE over all scored series
/// and per class, with the counts.
pub fn run(series: &[Series], horizon: usize, forecasts: &mut impl Write) -> Result<Value> {
    ensure!(horizon > 0, "the horizon must be at least one day");
    writeln!(forecasts, "unique_id,ds,ours")?;
    let mut sums: HashMap<&str, (f64, usize)> = HashMap::new();
    let (mut short, mut flat) = (0, 0);
    for s in series {
        if s.y.len() < horizon + 2 {
            short += 1;
            continue;
        }
        let (train, test) = s.y.split_at(s.y.len() - horizon);
        let per_day = forecast_per_day(s.first_day, train);
        for d in 0..horizon {
            let day = s.first_day + (train.len() + d) as i64;
            let date = chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            writeln!(forecasts, "{},{date},{per_day:?}", s.id)?;
        }
        let Some(m) = mase(train, test, &vec![per_day; horizon]) else {
            flat += 1;
            continue;
        };
        let class = if intermittent(train) {
            "intermittent"
        } else {
            "smooth"
        };
        for key in ["all", class] {
            let e = sums.entry(key).or_default();
            e.0 += m;
            e.1 += 1;
        }
    }
    forecasts.flush()?;
    let mean = |k: &str| sums.get(k).map(|(s, n)| s / *n as f64);
    let count = |k: &str| sums.get(k).map_or(0, |(_, n)| *n);
    Ok(json!({
        "series": series.len(),
        "horizon_days": horizon,
        "mase": {
            "all": mean("all"),
            "intermittent": mean("intermittent"),
            "smooth": mean("smooth"),
        },
        "scored": {
            "all": count("all"),
            "intermittent": count("intermittent"),
            "smooth": count("smooth"),
        },
        "unscored_too_short": short,
        "unscored_flat_history": flat,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_read_in_order_and_bad_rows_name_their_line() {
        let csv = "unique_id,ds,y\na,2026-01-01,1\nb,2026-01-01,0\na,2026-01-02,3\n";
        let s = read_series(csv.as_bytes()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].y, vec![1.0, 3.0]);
        assert_eq!(s[0].first_day, 20_454);
        for (bad, why) in [
            ("unique_id,ds,y\na,2026-01-01,1\na,2026-01-03,1\n", "line 3"),
            ("unique_id,ds,y\na,2026-01-01,-1\n", "line 2"),
            ("unique_id,ds,y\na,2026-01-01,NaN\n", "line 2"),
            ("unique_id,ds,y\na,01/01/2026,1\n", "line 2"),
            ("unique_id,ds,y\na,2026-01-01\n", "line 2"),
            ("id,date,units\n", "header"),
        ] {
            let e = format!("{:#}", read_series(bad.as_bytes()).unwrap_err());
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_steady_series_is_forecast_at_its_rate_and_scored_by_the_naive_error() {
        // Two a day for a month: the state's rate is two a day.
        let train = vec![2.0; 30];
        let f = forecast_per_day(20_000, &train);
        assert!((f - 2.0).abs() < 0.05, "{f}");
        // Naive one-day changes of 1 on average; an error of 0.5 a day is a MASE of 0.5.
        let train = [1.0, 2.0, 1.0, 2.0, 1.0];
        assert_eq!(mase(&train, &[2.0, 1.0], &[1.5, 1.5]), Some(0.5));
        assert_eq!(mase(&[3.0, 3.0, 3.0], &[2.0], &[3.0]), None);
        assert!(intermittent(&[0.0, 1.0, 0.0, 0.0]));
        assert!(!intermittent(&[1.0, 1.0, 1.0, 0.0, 2.0]));
    }

    #[test]
    fn a_run_scores_each_class_and_counts_what_it_cannot_score() {
        let mut series = vec![
            Series {
                id: "smooth".into(),
                first_day: 20_000,
                y: (0..28).map(|d| f64::from(3 + d % 3)).collect(),
            },
            Series {
                id: "slow".into(),
                first_day: 20_000,
                y: (0..28).map(|d| f64::from(u8::from(d % 4 == 0))).collect(),
            },
            Series {
                id: "flat".into(),
                first_day: 20_000,
                y: vec![0.0; 28],
            },
        ];
        series.push(Series {
            id: "short".into(),
            first_day: 20_000,
            y: vec![1.0; 5],
        });
        let mut out = Vec::new();
        let summary = run(&series, 7, &mut out).unwrap();
        assert_eq!(summary["scored"]["all"], 2);
        assert_eq!(summary["scored"]["intermittent"], 1);
        assert_eq!(summary["scored"]["smooth"], 1);
        assert_eq!(summary["unscored_flat_history"], 1);
        assert_eq!(summary["unscored_too_short"], 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1 + 3 * 7);
        assert!(text.contains("smooth,2024-10-25,"), "{text}");
    }
}
