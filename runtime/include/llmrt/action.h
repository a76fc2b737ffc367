/* llmrt pipeline-schedule actions: the data a schedule plugin returns for each rank.
 * Pure C, part of the installed SDK. A schedule is a list of these per pipeline rank; the
 * runtime verifies all ranks' lists together, the executor runs them and the planner
 * simulates them. Append-only: new kinds get new numbers, old numbers never change. */
#ifndef LLMRT_ACTION_H_
#define LLMRT_ACTION_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llmrt_action_kind {
  LLMRT_ACTION_FORWARD = 1,         /* forward of (microbatch, chunk) on this rank */
  LLMRT_ACTION_BACKWARD_INPUT = 2,  /* gradient w.r.t. the chunk's input ("B") */
  LLMRT_ACTION_BACKWARD_WEIGHT = 3, /* gradient w.r.t. the chunk's parameters ("W") */
  LLMRT_ACTION_SEND_ACTIVATION = 4, /* send the chunk's forward output to peer_rank */
  LLMRT_ACTION_RECV_ACTIVATION = 5, /* receive the chunk's forward input from peer_rank */
  LLMRT_ACTION_SEND_GRADIENT = 6,   /* send the gradient w.r.t. the chunk's input to peer_rank */
  LLMRT_ACTION_RECV_GRADIENT = 7    /* receive the gradient w.r.t. the chunk's output from peer_rank */
} llmrt_action_kind;

/* One step of one pipeline rank's schedule.
 * Virtual stage of (rank r, chunk c) in a pipeline of p ranks: c * p + r (Megatron's
 * interleaving). The model's first virtual stage is (rank 0, chunk 0), the last is
 * (rank p-1, chunk v-1). For send/receive actions, `chunk` is this rank's chunk whose
 * output (activation) or input gradient is sent, or which consumes what is received;
 * peer_rank is the pipeline rank on the other end. peer_rank is -1 for compute actions. */
typedef struct llmrt_action {
  int32_t kind;       /* llmrt_action_kind */
  int32_t microbatch; /* 0 .. microbatches-1 */
  int32_t chunk;      /* 0 .. virtual_stages-1 */
  int32_t peer_rank;  /* pipeline rank of the other end of a send/receive; -1 otherwise */
} llmrt_action;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LLMRT_ACTION_H_ */
