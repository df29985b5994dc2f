import sqlite3, json, sys
c=sqlite3.connect(sys.argv[1])
tc=[r[1] for r in c.execute("pragma table_info(trials)")]
for rid,strat,seed,t,st,stop,wall,plan,created in c.execute("select id,strategy,seed,target_p99_ms,status,stop_reason,wall_s,plan_json,created_at from runs order by created_at"):
    p=json.loads(plan); shm=p['load'].get('sharedMemory')
    tr=[dict(zip(tc,r)) for r in c.execute("select * from trials where run_id=? order by trial_index",(rid,))]
    print(f"{rid} {strat} seed {seed} p99 {t} shm {shm} {st} '{stop}' wall {wall} trials {len(tr)}")
    t0=None
    for d in tr:
        cfg=json.loads(d['config_json'])
        key=(cfg.get('maxBatchSize'),cfg.get('maxQueueDelayUs'),cfg.get('instanceCount'),cfg.get('precision'))
        print(f"   #{d['trial_index']} {key} {d['state']} {d['objective_ips'] and round(d['objective_ips'])} p99 {d['p99_ms']} dur {d['duration_s'] and round(d['duration_s'],1)} rep {d['repeat_of']} fin {d['finished_at']}")
