(* A small Coq file for the extraction tests: bullets, braces, a Defined, a term proof. *)
Require Import Arith.

Section S.
Variable k : nat.

Lemma add_k_0 : k + 0 = k.
Proof.
  rewrite Nat.add_0_r. (* a qualified name *)
  reflexivity.
Qed.

Lemma both : k = k /\ 0 + k = k.
Proof.
  split.
  - reflexivity.
  - { simpl. reflexivity. }
Qed.
End S.

Definition two := 2.
Lemma two_pos : 0 < two. Proof. unfold two. auto with arith. Defined.
Example one_pos : 0 < 1 := Nat.lt_0_succ 0.

Theorem use_both : forall n, n = n /\ 0 + n = n.
Proof with auto.
  intros n. apply both...
Qed.
