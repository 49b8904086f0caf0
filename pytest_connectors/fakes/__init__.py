"""Stand-ins for the providers import connectors read, to try imports and test them offline.

As moto serves AWS, these serve LangSmith and FullStory on loopback, built from what the real
APIs answer (routes, auth, paging, the export flow, their errors), with knobs for the faults a
sync must survive. They need the ``server`` extra (starlette, uvicorn)::

    from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer

    with LangSmithServer() as langsmith:  # a free 127.0.0.1 port, in a thread
        langsmith.fake.add_runs(runs, project="support-prod")
        ...  # point a connector's apiUrl at langsmith.url, with API_KEY

- ``langsmith``: `FakeLangSmith` and `LangSmithServer`;
- ``langfuse``: `FakeLangfuse` and `LangfuseServer` (the public API's traces and sessions);
- ``fullstory``: `FakeFullStory` and `FullStoryServer` (API and download origins);
- ``demo``: both filled with the example agent's conversations from the last hour
  (``pytest-connectors demo``).
"""
