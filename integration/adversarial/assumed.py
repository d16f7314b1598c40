"""Every flag name and log text the adversarial suite assumes of the fixed server, in one place.

Today's main has none of the flags below (absl rejects an unknown flag at start-up, so a test
that passes one fails there); the fixers pick the final names and adjust them here."""

# --- Flags that do not exist on today's main -----------------------------------------------
# Defect 3: the most sessions one client address may hold, however it got them.
FLAG_MAX_SESSIONS_PER_CLIENT = "--max_sessions_per_client"
# Defect 6: lookups in flight per worker; over it a CONNECT gets 04, a datagram a counted drop.
FLAG_MAX_LOOKUPS_PER_WORKER = "--dns_max_in_flight"
# Defect 12: process-wide bytes held in UDP reassembly and queues behind lookups.
FLAG_UDP_MEMORY_BUDGET = "--udp_memory_budget"  # a byte count, e.g. 4194304
# Defect 12: the most UDP associations one client address may hold.
FLAG_MAX_ASSOCIATIONS_PER_CLIENT = "--max_associations_per_client"

# --- Log texts (regular expressions searched in each stderr line) --------------------------
# Defect 3: a connection refused by the per-client cap.
LOG_PER_CLIENT_CAP = r"max_sessions_per_client=\d+ reached"
# Defect 8: the periodic summary of refused connections ("... refused 2990 connections ...").
LOG_REFUSED_SUMMARY = r"refused (\d+) (?:new )?connections"
# Defect 8: the per-connection refusal warning of today (rate-limited after the fix).
LOG_REFUSED_ONE = r"max_sessions=\d+ reached"
# Defect 9: SIGUSR1 logged and ignored; SIGHUP reloads the users and rules (issue 12) and logs
# one line, whatever the outcome.
LOG_SIGNAL_IGNORED = r"signal (?:1|10|SIGHUP|SIGUSR1)\b.*ignor"
LOG_RELOADED = r"reloaded users=\d+ rules=\d+"
# Defect 10: a failed login with a name that is no user: "user=(unknown, 23 bytes)".
LOG_AUTH_UNKNOWN = r"auth failed client=\S+ user=\(unknown, (\d+) bytes\)"
# Defect 11: the start-up warning about a users file others can read.
LOG_USERS_FILE_READABLE = r" W .*users_file.*(?:group|world)[- ]readable"
# Defect 12: the access-log counter of datagrams dropped for the memory budget.
DROP_BUDGET_FIELD = "drop_budget"
# Defect 12: a UDP ASSOCIATE refused by the per-client cap.
LOG_ASSOCIATIONS_PER_CLIENT_CAP = r"max_associations_per_client=\d+ reached"
# Defect 2: the access-log counter of datagrams to denied destinations (exists today).
DROP_DENIED_FIELD = "drop_denied"
