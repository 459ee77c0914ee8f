"""The export, read by DuckDB (from PyPI; not this project's code): NDJSON, CSV and Parquet each
give the same count and mean SRS total as GET /v1/analytics/alliance, and a resumed export holds
exactly the rows added since its cursor.

Usage: python export_peer.py BASE_URL ADMIN_TOKEN WORK_DIR
"""

import json
import sys
import time
import urllib.request

import duckdb

base, token, work = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, raw=False):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        content = response.read()
        if raw:
            return content, response.headers
        return json.loads(content) if content else None


clinician = call("POST", "/v1/users", {"email": "peer-clinician@export.example", "role": "clinician",
                                       "password": "peer clinician password"})
client = call("PUT", "/v1/clients/by-external-id/PEER-1", {"age_group": "adult", "attributes": {}})
episode = call("POST", "/v1/episodes", {"client_id": client["id"], "clinician_id": clinician["id"],
                                        "started_on": "2026-03-01"})
values = [[9.1, 8.5, 9.2, 7.1], [6.0, 7.0, 8.0, 9.0], [9.9, 9.9, 9.8, 9.7], [3.3, 4.4, 5.5, 6.6], [8.8, 8.8, 8.8, 8.8]]
ids = []
for number, answers in enumerate(values, start=1):
    session = call("POST", "/v1/sessions", {"episode_id": episode["id"], "number": number,
                                            "occurred_at": f"2026-03-{number:02}T10:00:00Z"})
    for instrument, keys in [("srs", ["relationship", "goals_topics", "approach_method", "overall"]),
                             ("ors", ["individually", "interpersonally", "socially", "overall"])]:
        created = call("POST", "/v1/responses", {
            "instrument": instrument, "session_id": session["id"], "rater": "client",
            "administered_at": f"2026-03-{number:02}T10:50:00Z", "answers": dict(zip(keys, answers))})
        ids.append(created["id"])
call("POST", f"/v1/responses/{ids[0]}/void", {"reason": "entered twice"})

analytics = call("GET", "/v1/analytics/alliance?group_by=clinician&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
group = analytics["groups"][0]
expected = (group["responses"], group["mean_srs"]["mean"])

def export(query, rows):
    """A change is exported once every older transaction has ended (a background job's may be
    open for a moment): ask again until the rows are there."""
    for _ in range(100):
        content, headers = call("GET", f"/v1/export/responses?{query}", raw=True)
        if len(content.splitlines()) >= rows:
            return content, headers
        time.sleep(0.1)
    return content, headers


export("format=ndjson", len(ids))

readers = {"ndjson": "read_json_auto", "csv": "read_csv_auto", "parquet": "read_parquet"}
cursor = None
for fmt, reader in readers.items():
    content, headers = call("GET", f"/v1/export/responses?format={fmt}", raw=True)
    path = f"{work}/responses.{fmt}"
    with open(path, "wb") as file:
        file.write(content)
    cursor = headers["Rapport-Next-Cursor"]
    rows, count, mean = duckdb.sql(
        f"SELECT count(*), count(*) FILTER (WHERE instrument = 'srs' AND rater = 'client' AND NOT voided), "
        f"avg(total) FILTER (WHERE instrument = 'srs' AND rater = 'client' AND NOT voided) FROM {reader}('{path}')"
    ).fetchone()
    print(f"export-peer: {fmt}: {rows} rows, {count} alliance responses, mean {mean:.2f} (analytics: {expected[0]}, {expected[1]})")
    assert rows == len(ids), (fmt, rows, len(ids))
    assert count == expected[0], (fmt, count, expected)
    assert abs(mean - expected[1]) < 0.01, (fmt, mean, expected)

session = call("POST", "/v1/sessions", {"episode_id": episode["id"], "number": 6, "occurred_at": "2026-03-06T10:00:00Z"})
added = call("POST", "/v1/responses", {"instrument": "srs", "session_id": session["id"], "rater": "client",
                                        "administered_at": "2026-03-06T10:50:00Z",
                                        "answers": {"relationship": 5, "goals_topics": 5, "approach_method": 5, "overall": 5}})
export(f"format=ndjson&since={cursor}", 1)
content, _ = call("GET", f"/v1/export/responses?format=parquet&ids=real&since={cursor}", raw=True)
path = f"{work}/resumed.parquet"
with open(path, "wb") as file:
    file.write(content)
resumed = [row[0] for row in duckdb.sql(f"SELECT response_id FROM read_parquet('{path}')").fetchall()]
print(f"export-peer: resumed export: {resumed}")
assert resumed == [added["id"]], (resumed, added["id"])
print("export-peer: DuckDB agrees with the analytics in every format")
