"""Record-level collection: workflow runs, model usage of their nodes, and chat messages.

Statistics (:mod:`otel_dify.collect`) give one sum per app and day. This
package reads the individual records behind them, incrementally: each poll
re-reads a short overlap before the newest record counted, de-duplicates by
record id, and adds each record once to totals that the exporter holds (and,
with a state directory, keeps across restarts).

Modules, in the order data flows through them: :mod:`levels` (what can be
turned on), :mod:`parsing` (JSON bodies to :mod:`models`), :mod:`state`
(cursors, pending runs, backlog, totals) and :mod:`store` (the state file),
:mod:`runs`, :mod:`llm_usage` and :mod:`messages` (the readers),
:mod:`collector` and :mod:`service_api` (one workspace or the app keys),
:mod:`points` (totals to snapshot points) and :mod:`runtime` (the poll hook).
"""
