"""Solves a routing benchmark instance with Google OR-Tools and compares with our planner.

Reads the JSON that `route_bench` prints (instance, distance matrix, our result) on stdin and
prints one JSON line: OR-Tools' total km at the time limit, and ours.

OR-Tools is used only here, by the benchmark: `pip install ortools`.
"""

import json
import sys

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

SCALE = 1000  # OR-Tools works in integers: metres.


def solve(instance, seconds):
    matrix = instance["matrix_km"]
    demands = [0] + instance["demands"]
    n = len(matrix)
    vehicles = instance["stops"]
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    metres = [[round(d * SCALE) for d in row] for row in matrix]

    def distance(i, j):
        return metres[manager.IndexToNode(i)][manager.IndexToNode(j)]

    transit = routing.RegisterTransitCallback(distance)
    routing.SetArcCostEvaluatorOfAllVehicles(transit)

    def demand(i):
        return demands[manager.IndexToNode(i)]

    demand_cb = routing.RegisterUnaryTransitCallback(demand)
    routing.AddDimensionWithVehicleCapacity(
        demand_cb, 0, [instance["capacity"]] * vehicles, True, "load"
    )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromSeconds(seconds)
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise SystemExit("OR-Tools found no solution")
    km = 0.0
    routes = 0
    for v in range(vehicles):
        i = routing.Start(v)
        if routing.IsEnd(solution.Value(routing.NextVar(i))):
            continue
        routes += 1
        while not routing.IsEnd(i):
            j = solution.Value(routing.NextVar(i))
            km += matrix[manager.IndexToNode(i)][manager.IndexToNode(j)]
            i = j
    return km, routes


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    row = "--row" in sys.argv
    instance = json.load(sys.stdin)
    km, routes = solve(instance, seconds)
    ours = instance["ours"]
    gap = 100.0 * (ours["km"] - km) / km
    if row:
        print(
            f"| {instance['stops']} | {instance['seed']} | {km:.1f} | {ours['km']:.1f} "
            f"| {gap:+.1f}% | {ours['median_ms']:.1f} | {ours['max_ms']:.1f} | {routes} / {ours['routes']} |"
        )
        return
    print(
        json.dumps(
            {
                "stops": instance["stops"],
                "capacity": instance["capacity"],
                "ortools_km": round(km, 3),
                "ortools_routes": routes,
                "ortools_seconds": seconds,
                "ours_km": ours["km"],
                "ours_routes": ours["routes"],
                "ours_median_ms": round(ours["median_ms"], 2),
                "gap_percent": round(gap, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
