# %% [markdown]
# # The WorldGPT runtime from Python (notebook-style: run cell by cell, or as a script)
#
# Start a server over a store made by a rollout first (README, "Serve"):
#
#     worldgpt serve --db memory.sqlite --model run/final --kb world --port 8470
#
# and install the client: `pip install ./python`.

# %%
import os

import numpy as np
from worldgpt_client import Client, LocalClient

url = os.environ.get("WORLDGPT_URL", "http://127.0.0.1:8470")
client = Client(url, token=os.environ.get("WORLDGPT_TOKEN"))
print(client.server_version)
print(client.stats())

# %% What memory holds: every episode, a page at a time.
for episode in client.all_episodes(page_size=100):
    print(episode.name, episode.step_count)

# %% One step's evidence: what the model saw, and why.
first = client.episodes(limit=1).items[0]
evidence = client.evidence(first.name, min(2, first.step_count - 1))
print(evidence.action, evidence.cosine)
for item in evidence.recalled:
    print("recalled", item.item, item.reason)
for item in evidence.kept:
    print("kept", item.item, round(item.score, 3), item.reason)
for item in evidence.dropped:
    print("dropped", item.item, item.reason)

# %% Arrays come back as numpy.
predicted = client.array(first.name, evidence.index, "predicted", "image")
observed = client.array(first.name, evidence.index, "observed", "image")
print(predicted.shape, float(predicted @ observed / np.linalg.norm(predicted) / np.linalg.norm(observed)))

# %% Search memory like a step, then fork a "what if" from it and follow its trace.
for hit in client.search(like=f"{first.name}:{evidence.index}", k=3):
    print(hit.episode, hit.index, round(hit.score, 4))
run = client.start_run("fork", **{"from": f"{first.name}:{evidence.index}"}, actions=["push the red block left"], name="what-if")
for line in client.trace(run.id):
    print(line.episode, line.step, line.action, line.cosine)
print(client.run(run.id).status)

# %% Without a server: the same memory questions through the CLI.
local = LocalClient(os.environ.get("WORLDGPT_DB", "memory.sqlite"))
print([e.name for e in local.episodes(limit=5).items])
