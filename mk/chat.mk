# Chat and sessions: benchmarks of the multi-turn engine on SQLite and the Firestore emulator.
# Included by the Makefile (-include mk/*.mk).

SESSIONS ?= 10000

.PHONY: bench-chat
bench-chat: $(DEV_VENV) ## Chat benchmarks (turn overhead, bytes/message, 100 vs SESSIONS=10000 live sessions): make bench-chat [OUT=file.json]
	$(PY) -m tools.bench_chat --out $(or $(OUT),var/bench-chat.json) --sessions $(SESSIONS)
