
/*
 * scx_gap: scx_simple, except that once the workload runs it holds one
 * forked worker off the CPU for JAIL_NS, in a DSQ nobody consumes until
 * then. Longer than ktstr-vm's max_gap limit (3 s under TCG), far shorter
 * than the sched_ext watchdog (30 s): only the runner can catch it.
 */
#define JAIL_DSQ 1
#define JAIL_NS (6ULL * 1000000000ULL)
#define JAIL_AFTER_NS (2ULL * 1000000000ULL)

static u64 gap_start_ns, jail_until;
static s32 victim;

/* A forked worker: a process (not a thread) named init, other than PID 1. */
static bool is_worker(struct task_struct *p)
{
	return p->pid != 1 && p->pid == p->tgid && p->comm[0] == 'i' &&
	       p->comm[1] == 'n' && p->comm[2] == 'i' && p->comm[3] == 't' &&
	       p->comm[4] == '\0';
}

/* Whether @p is the victim and still jailed; picks the victim once. */
static bool jailed(struct task_struct *p, u64 now)
{
	if (!gap_start_ns)
		gap_start_ns = now;
	if (!victim && now - gap_start_ns > JAIL_AFTER_NS && is_worker(p) &&
	    __sync_val_compare_and_swap(&victim, 0, p->pid) == 0)
		jail_until = now + JAIL_NS;
	return p->pid == victim && now < jail_until;
}
