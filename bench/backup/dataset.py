"""A realistic dataset: meter readings at 15-minute intervals, partitioned by month."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE meters (
    id int PRIMARY KEY, site text NOT NULL, kind text NOT NULL, installed date NOT NULL,
    latitude double precision, longitude double precision);
CREATE TABLE readings (
    meter_id int NOT NULL, at timestamptz NOT NULL, kwh double precision NOT NULL,
    voltage real, quality smallint NOT NULL) PARTITION BY RANGE (at);
"""

METERS = """
INSERT INTO meters
SELECT i, 'site-' || (i % 97), (ARRAY['residential', 'commercial', 'industrial'])[1 + i % 3],
       date '2015-01-01' + (i % 3000), 45 + random() * 10, 5 + random() * 10
FROM generate_series(1, {meters}) i;
"""

PARTITION = """
CREATE TABLE readings_{suffix} PARTITION OF readings
    FOR VALUES FROM ('{start}') TO ('{end}');
"""

# A daily load curve per meter plus noise; one INSERT per day keeps each statement small.
READINGS_DAY = """
INSERT INTO readings
SELECT m, t,
       round((0.2 + 0.8 * (1 + sin(extract(epoch FROM t) / 13751.0 + m)) * random())::numeric,
             3)::double precision,
       (228 + random() * 6)::real,
       CASE WHEN random() < 0.002 THEN 1 ELSE 0 END
FROM generate_series(1, {meters}) m,
     generate_series(timestamptz '{day}', timestamptz '{day}' + interval '23 hours 45 minutes',
                     interval '15 minutes') t;
"""

INDEXES = """
ALTER TABLE readings ADD PRIMARY KEY (meter_id, at);
CREATE INDEX readings_at ON readings (at);
ALTER TABLE readings ADD FOREIGN KEY (meter_id) REFERENCES meters (id);
ANALYZE;
"""
