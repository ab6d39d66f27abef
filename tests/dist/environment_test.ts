import assert from "node:assert/strict";
import { detectLaunch } from "../../src/dist/environment.ts";

Deno.test("detectLaunch reads Open MPI's mpirun variables, local size included", () => {
  assert.deepEqual(
    detectLaunch({
      OMPI_COMM_WORLD_SIZE: "4",
      OMPI_COMM_WORLD_RANK: "3",
      OMPI_COMM_WORLD_LOCAL_SIZE: "2",
    }),
    { size: 4, rank: 3, localSize: 2, source: "OMPI_COMM_WORLD_SIZE" },
  );
});

Deno.test("detectLaunch reads MPICH/Hydra's PMI and Slurm's srun with PMIx", () => {
  assert.deepEqual(detectLaunch({ PMI_SIZE: "2", PMI_RANK: "0" }), {
    size: 2,
    rank: 0,
    localSize: undefined,
    source: "PMI_SIZE",
  });
  const srun = detectLaunch({ SLURM_NTASKS: "8", PMIX_RANK: "5", SLURM_PROCID: "5" });
  assert.equal(srun?.size, 8);
  assert.equal(srun?.rank, 5);
});

Deno.test("detectLaunch: no launcher (a plain run, or an sbatch script without srun) is null", () => {
  assert.equal(detectLaunch({}), null);
  assert.equal(detectLaunch({ SLURM_NTASKS: "8", SLURM_PROCID: "0", HOME: "/root" }), null);
});

Deno.test("detectLaunch rejects a rank outside the job", () => {
  assert.throws(
    () => detectLaunch({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "2" }),
    /OMPI_COMM_WORLD_RANK=2 but OMPI_COMM_WORLD_SIZE=2/,
  );
});
