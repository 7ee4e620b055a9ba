"""The forecast benchmark's references: statsforecast's CrostonSBA, TSB and AutoETS on the same
daily series and split as `store-bench forecast`, every model scored by one MASE.

    python3 bench/forecast_reference.py SERIES.csv OURS.csv OURS.json HORIZON LABEL

SERIES.csv is `unique_id,ds,y` (`store-sim demand`); OURS.csv and OURS.json are what
`store-bench forecast` wrote for it. The last HORIZON days of each series are held out. MASE is
the held-out mean absolute error over the training days' mean absolute one-day change; a series
whose training days never change (or that is too short) is not scored, as in `store-bench`.
A series is intermittent when its training days over its days with demand is at least 1.32.
The score of our forecasts computed here must equal the one `store-bench` reported (else the
two scorings differ and the comparison means nothing: exit 1). Prints one markdown table row
per class, and a JSON line with every figure.
"""

import json
import sys

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import TSB, AutoETS, CrostonSBA

INTERMITTENT_ADI = 1.32
MODELS = ["CrostonSBA", "TSB", "AutoETS"]


def mase(train: np.ndarray, test: np.ndarray, forecast: np.ndarray):
    if len(train) < 2 or len(test) == 0:
        return None
    scale = np.abs(np.diff(train)).mean()
    if scale <= 0:
        return None
    return float(np.abs(test - forecast).mean() / scale)


def intermittent(train: np.ndarray) -> bool:
    days = int((train > 0).sum())
    return days == 0 or len(train) / days >= INTERMITTENT_ADI


def main(series_csv, ours_csv, ours_json, horizon, label) -> int:
    h = int(horizon)
    df = pd.read_csv(series_csv, parse_dates=["ds"])
    df = df.sort_values(["unique_id", "ds"], kind="stable")
    counts = df.groupby("unique_id")["y"].transform("size")
    df = df[counts >= h + 2]
    position = df.groupby("unique_id").cumcount()
    size = df.groupby("unique_id")["y"].transform("size")
    train = df[position < size - h]
    test = df[position >= size - h]
    models = [CrostonSBA(), TSB(alpha_d=0.2, alpha_p=0.2), AutoETS(season_length=7)]
    fitted = StatsForecast(models=models, freq="D", n_jobs=1).forecast(df=train, h=h)
    fitted = fitted.reset_index() if "unique_id" not in fitted.columns else fitted
    ours = pd.read_csv(ours_csv, parse_dates=["ds"])
    forecasts = fitted.merge(ours, on=["unique_id", "ds"], how="left")
    if forecasts["ours"].isna().any():
        print("our forecasts miss some series or days", file=sys.stderr)
        return 1
    sums = {m: {} for m in MODELS + ["ours"]}
    train_by = {k: g["y"].to_numpy(float) for k, g in train.groupby("unique_id")}
    test_by = {k: g["y"].to_numpy(float) for k, g in test.groupby("unique_id")}
    for key, f in forecasts.groupby("unique_id"):
        f = f.sort_values("ds")
        tr, te = train_by[key], test_by[key]
        cls = "intermittent" if intermittent(tr) else "smooth"
        for m in sums:
            score = mase(tr, te, f[m].to_numpy(float))
            if score is None:
                continue
            for c in ("all", cls):
                s, n = sums[m].get(c, (0.0, 0))
                sums[m][c] = (s + score, n + 1)
    mean = {m: {c: s / n for c, (s, n) in v.items()} for m, v in sums.items()}
    reported = json.load(open(ours_json))
    for c in ("all", "intermittent", "smooth"):
        want, got = reported["mase"].get(c), mean["ours"].get(c)
        if (want is None) != (got is None) or (want is not None and abs(want - got) > 1e-9):
            print(f"{c}: store-bench scored ours {want}, this script {got}", file=sys.stderr)
            return 1
    rows = []
    for c in ("all", "intermittent", "smooth"):
        if c not in mean["ours"]:
            continue
        best = min(MODELS, key=lambda m: mean[m].get(c, float("inf")))
        ratio = mean["ours"][c] / mean[best][c]
        n = sums["ours"][c][1]
        cells = " | ".join(f"{mean[m][c]:.3f}" for m in MODELS)
        rows.append(
            f"| {label} | {c} | {n:,} | {mean['ours'][c]:.3f} | {cells} | {best} | {ratio:.3f} |"
        )
    print("\n".join(rows))
    print(json.dumps({"label": label, "horizon_days": h, "mase": mean,
                      "scored": {c: n for c, (_, n) in sums["ours"].items()}}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
