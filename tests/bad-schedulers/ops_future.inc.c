
/*
 * scx_simple's ops plus cgroup_set_bandwidth, a member 6.12's struct
 * sched_ext_ops does not have (it came in 6.17): what a scheduler built
 * against a newer kernel's vmlinux.h sets. libbpf drops the ___future flavor
 * to find the kernel's sched_ext_ops and matches the members by name, so it
 * refuses to load ops that set a member the kernel lacks.
 */
void BPF_STRUCT_OPS(simple_cgroup_set_bandwidth, struct cgroup *cgrp,
		    u64 period_us, u64 quota_us, u64 burst_us)
{
}

struct sched_ext_ops___future {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	void (*running)(struct task_struct *p);
	void (*stopping)(struct task_struct *p, bool runnable);
	void (*enable)(struct task_struct *p);
	s32 (*init)(void);
	void (*exit)(struct scx_exit_info *info);
	void (*cgroup_set_bandwidth)(struct cgroup *cgrp, u64 period_us,
				     u64 quota_us, u64 burst_us);
	u32 exit_dump_len;
	u64 hotplug_seq;
	char name[128];
};

SEC(".struct_ops.link")
struct sched_ext_ops___future simple_ops = {
	.select_cpu		= (void *)simple_select_cpu,
	.enqueue		= (void *)simple_enqueue,
	.dispatch		= (void *)simple_dispatch,
	.running		= (void *)simple_running,
	.stopping		= (void *)simple_stopping,
	.enable			= (void *)simple_enable,
	.init			= (void *)simple_init,
	.exit			= (void *)simple_exit,
	.cgroup_set_bandwidth	= (void *)simple_cgroup_set_bandwidth,
	.name			= "simple",
};
